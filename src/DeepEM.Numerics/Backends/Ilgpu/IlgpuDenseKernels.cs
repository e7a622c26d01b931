using ILGPU;
using ILGPU.Algorithms;

namespace DeepEM.Numerics.Backends.Ilgpu;

/// <summary>Shape of one dilated stage over a band in the flat-plane layout of <see cref="Scoring.DenseScorer"/>.</summary>
public struct DenseShape
{
    public int InChannels;
    public int OutChannels;
    public int Kernel;
    public int Stride;
    public int Dilation;
    public int InPlane;
    public int OutPlane;
    public int Count;
    public int Pool;
    public int Activation;
}

/// <summary>
/// The dense (whole-micrograph) forms of the layers, one thread per output pixel: convolution with taps
/// spread by the dilation, pooling of pixels the dilation apart, and the output unit. Flat planes with a row
/// stride, as on the CPU; positions past a row's valid width are computed and ignored.
/// </summary>
public static class IlgpuDenseKernels
{
    public static void ConvSigmoid(Index1D index, ArrayView<float> input, ArrayView<float> weights, ArrayView<float> bias, ArrayView<float> output, DenseShape s)
    {
        var q = index % s.Count;
        var o = index / s.Count;
        var sum = bias[o];
        for (var c = 0; c < s.InChannels; c++)
        {
            var inBase = c * s.InPlane + q;
            var wBase = (o * s.InChannels + c) * s.Kernel * s.Kernel;
            for (var ky = 0; ky < s.Kernel; ky++)
            {
                for (var kx = 0; kx < s.Kernel; kx++)
                {
                    sum += input[inBase + s.Dilation * (ky * s.Stride + kx)] * weights[wBase + ky * s.Kernel + kx];
                }
            }
        }
        output[o * s.OutPlane + q] = IlgpuKernels.Activate(sum, s.Activation);
    }

    public static void Pool(Index1D index, ArrayView<float> act, ArrayView<float> pooled, DenseShape s)
    {
        var q = index % s.Count;
        var c = index / s.Count;
        var acc = 0f;
        for (var dy = 0; dy < s.Pool; dy++)
        {
            var row = c * s.InPlane + q + s.Dilation * dy * s.Stride;
            var sum = 0f;
            for (var dx = 0; dx < s.Pool; dx++)
            {
                sum += act[row + s.Dilation * dx];
            }
            acc += sum;
        }
        pooled[c * s.OutPlane + q] = acc / (s.Pool * s.Pool);
    }

    /// <summary>The output unit over maps of Kernel × Kernel (the last stage's size), its bias the last weight.</summary>
    public static void Output(Index1D q, ArrayView<float> maps, ArrayView<float> weightsAndBias, ArrayView<float> scores, DenseShape s)
    {
        var n = s.InChannels * s.Kernel * s.Kernel;
        var z = weightsAndBias[n];
        var w = 0;
        for (var c = 0; c < s.InChannels; c++)
        {
            for (var u = 0; u < s.Kernel; u++)
            {
                var sum = 0f;
                for (var v = 0; v < s.Kernel; v++, w++)
                {
                    sum += maps[c * s.InPlane + q + s.Dilation * (u * s.Stride + v)] * weightsAndBias[w];
                }
                z += sum;
            }
        }
        scores[q] = 1f / (1f + XMath.Exp(-z));
    }
}
