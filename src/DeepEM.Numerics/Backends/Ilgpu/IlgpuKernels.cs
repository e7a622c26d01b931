using ILGPU;
using ILGPU.Algorithms;

namespace DeepEM.Numerics.Backends.Ilgpu;

/// <summary>Shape of one convolution stage over a batch, passed to the kernels by value.</summary>
public struct ConvShape
{
    public int Batch;
    public int InChannels;
    public int OutChannels;
    public int Kernel;
    public int InHeight;
    public int InWidth;
    public int OutHeight;
    public int OutWidth;
    public int Pool;
    public int PooledHeight;
    public int PooledWidth;

    /// <summary>Hidden activation: 0 sigmoid, 1 rectifier (<see cref="Network.Activation"/>).</summary>
    public int Activation;

    /// <summary>Boxes per gradient chunk (<see cref="GradientChunks.Size"/>): each chunk's weight gradient is summed on its own.</summary>
    public int ChunkSize;

    /// <summary>Floats between one chunk's gradient and the next's (the parameter count).</summary>
    public int GradientStride;
}

/// <summary>
/// The DeepEM layers as ILGPU kernels, one thread per output value, each summing in a fixed order (so that
/// results do not depend on scheduling). Tensors are compact [box][channel][y][x]. They compile for CUDA,
/// OpenCL and ILGPU's CPU accelerator alike; avoid Math.Clamp and System.Numerics vectors in here, which
/// ILGPU 1.5 cannot compile on .NET 10 (and a failed compile poisons the context).
/// </summary>
public static class IlgpuKernels
{
    private static float Sigmoid(float x) => 1f / (1f + XMath.Exp(-x));

    /// <summary>The hidden units' activation: sigmoid (0) or rectifier (1).</summary>
    public static float Activate(float x, int kind) => kind == 1 ? (x > 0f ? x : 0f) : Sigmoid(x);

    /// <summary>Its derivative from the output y.</summary>
    public static float Derivative(float y, int kind) => kind == 1 ? (y > 0f ? 1f : 0f) : y * (1f - y);

    /// <summary>act[b][o][y][x] = f(bias[o] + Σ_i Σ_ky Σ_kx in[b][i][y+ky][x+kx]·w[o][i][ky][kx]), f the hidden activation.</summary>
    public static void ConvForwardSigmoid(Index1D index, ArrayView<float> input, ArrayView<float> weights, ArrayView<float> bias,
        ArrayView<float> output, ConvShape s)
    {
        int i = index;
        var x = i % s.OutWidth; i /= s.OutWidth;
        var y = i % s.OutHeight; i /= s.OutHeight;
        var o = i % s.OutChannels;
        var b = i / s.OutChannels;
        var sum = bias[o];
        for (var c = 0; c < s.InChannels; c++)
        {
            var inBase = ((b * s.InChannels + c) * s.InHeight + y) * s.InWidth + x;
            var wBase = (o * s.InChannels + c) * s.Kernel * s.Kernel;
            for (var ky = 0; ky < s.Kernel; ky++)
            {
                for (var kx = 0; kx < s.Kernel; kx++)
                {
                    sum += input[inBase + ky * s.InWidth + kx] * weights[wBase + ky * s.Kernel + kx];
                }
            }
        }
        output[index] = Activate(sum, s.Activation);
    }

    /// <summary>pooled[b][c][y][x] = mean of the p×p block of act at (y·p, x·p).</summary>
    public static void PoolForward(Index1D index, ArrayView<float> act, ArrayView<float> pooled, ConvShape s)
    {
        int i = index;
        var x = i % s.PooledWidth; i /= s.PooledWidth;
        var y = i % s.PooledHeight; i /= s.PooledHeight;
        var plane = i; // b·C + c
        var sum = 0f;
        for (var dy = 0; dy < s.Pool; dy++)
        {
            var row = (plane * s.OutHeight + y * s.Pool + dy) * s.OutWidth + x * s.Pool;
            for (var dx = 0; dx < s.Pool; dx++)
            {
                sum += act[row + dx];
            }
        }
        pooled[index] = sum / (s.Pool * s.Pool);
    }

    /// <summary>y[b] = σ(Σ_j w[j]·a[b][j] + w[n]): the output unit; its bias is the last weight.</summary>
    public static void DenseForward(Index1D b, ArrayView<float> input, ArrayView<float> weightsAndBias, ArrayView<float> scores, int n)
    {
        var z = weightsAndBias[n];
        var baseIndex = b * n;
        for (var j = 0; j < n; j++)
        {
            z += input[baseIndex + j] * weightsAndBias[j];
        }
        scores[b] = Sigmoid(z);
    }

    /// <summary>Chunk c's dW[j] = Σ_b dz[b]·a[b][j] over its boxes; the bias (j = n) gets Σ_b dz[b]. One thread per (chunk, j).</summary>
    public static void DenseBackwardWeights(Index1D index, ArrayView<float> input, ArrayView<float> dz, ArrayView<float> dWeightsAndBias, ConvShape s, int n)
    {
        var chunk = index / (n + 1);
        var j = index - chunk * (n + 1);
        var end = XMath.Min(s.Batch, (chunk + 1) * s.ChunkSize);
        var sum = 0f;
        for (var b = chunk * s.ChunkSize; b < end; b++)
        {
            sum += j == n ? dz[b] : dz[b] * input[b * n + j];
        }
        dWeightsAndBias[chunk * s.GradientStride + j] = sum;
    }

    /// <summary>dA[b][j] = dz[b]·w[j].</summary>
    public static void DenseBackwardData(Index1D index, ArrayView<float> dz, ArrayView<float> weightsAndBias, ArrayView<float> dInput, int n)
    {
        dInput[index] = dz[index / n] * weightsAndBias[index % n];
    }

    /// <summary>
    /// dConv[b][o][y][x] = dPooled[b][o][y/p][x/p]/p² · f′, zero in the rows and columns the pooling
    /// dropped: the pooling and activation backward passes fused.
    /// </summary>
    public static void PoolSigmoidBackward(Index1D index, ArrayView<float> dPooled, ArrayView<float> act, ArrayView<float> dConv, ConvShape s)
    {
        int i = index;
        var x = i % s.OutWidth; i /= s.OutWidth;
        var y = i % s.OutHeight; i /= s.OutHeight;
        var plane = i;
        var py = y / s.Pool;
        var px = x / s.Pool;
        var d = 0f;
        if (py < s.PooledHeight && px < s.PooledWidth)
        {
            d = dPooled[(plane * s.PooledHeight + py) * s.PooledWidth + px] / (s.Pool * s.Pool);
        }
        var a = act[index];
        dConv[index] = d * Derivative(a, s.Activation);
    }

    /// <summary>Chunk c's dW[o][i][ky][kx] = Σ_b Σ_y Σ_x dConv[b][o][y][x]·in[b][i][y+ky][x+kx] over its boxes; one thread per (chunk, weight).</summary>
    public static void ConvBackwardWeights(Index1D index, ArrayView<float> input, ArrayView<float> dConv, ArrayView<float> dWeights, ConvShape s)
    {
        var weights = s.OutChannels * s.InChannels * s.Kernel * s.Kernel;
        var chunk = index / weights;
        int i = index - chunk * weights;
        var w = i;
        var kx = i % s.Kernel; i /= s.Kernel;
        var ky = i % s.Kernel; i /= s.Kernel;
        var c = i % s.InChannels;
        var o = i / s.InChannels;
        var end = XMath.Min(s.Batch, (chunk + 1) * s.ChunkSize);
        var sum = 0f;
        for (var b = chunk * s.ChunkSize; b < end; b++)
        {
            var dBase = (b * s.OutChannels + o) * s.OutHeight * s.OutWidth;
            var inBase = (b * s.InChannels + c) * s.InHeight * s.InWidth;
            for (var y = 0; y < s.OutHeight; y++)
            {
                for (var x = 0; x < s.OutWidth; x++)
                {
                    sum += dConv[dBase + y * s.OutWidth + x] * input[inBase + (y + ky) * s.InWidth + x + kx];
                }
            }
        }
        dWeights[chunk * s.GradientStride + w] = sum;
    }

    /// <summary>Chunk c's dBias[o] = Σ_b Σ_y Σ_x dConv[b][o][y][x] over its boxes; one thread per (chunk, map).</summary>
    public static void ConvBackwardBias(Index1D index, ArrayView<float> dConv, ArrayView<float> dBias, ConvShape s)
    {
        var chunk = index / s.OutChannels;
        var o = index - chunk * s.OutChannels;
        var end = XMath.Min(s.Batch, (chunk + 1) * s.ChunkSize);
        var sum = 0f;
        var plane = s.OutHeight * s.OutWidth;
        for (var b = chunk * s.ChunkSize; b < end; b++)
        {
            var baseIndex = (b * s.OutChannels + o) * plane;
            for (var p = 0; p < plane; p++)
            {
                sum += dConv[baseIndex + p];
            }
        }
        dBias[chunk * s.GradientStride + o] = sum;
    }

    /// <summary>dIn[b][i][y][x] = Σ_o Σ_ky Σ_kx dConv[b][o][y−ky][x−kx]·w[o][i][ky][kx] over the taps inside the output.</summary>
    public static void ConvBackwardData(Index1D index, ArrayView<float> dConv, ArrayView<float> weights, ArrayView<float> dInput, ConvShape s)
    {
        int i = index;
        var x = i % s.InWidth; i /= s.InWidth;
        var y = i % s.InHeight; i /= s.InHeight;
        var c = i % s.InChannels;
        var b = i / s.InChannels;
        var sum = 0f;
        for (var o = 0; o < s.OutChannels; o++)
        {
            var dBase = (b * s.OutChannels + o) * s.OutHeight * s.OutWidth;
            var wBase = (o * s.InChannels + c) * s.Kernel * s.Kernel;
            for (var ky = 0; ky < s.Kernel; ky++)
            {
                var oy = y - ky;
                if (oy < 0 || oy >= s.OutHeight) continue;
                for (var kx = 0; kx < s.Kernel; kx++)
                {
                    var ox = x - kx;
                    if (ox < 0 || ox >= s.OutWidth) continue;
                    sum += dConv[dBase + oy * s.OutWidth + ox] * weights[wBase + ky * s.Kernel + kx];
                }
            }
        }
        dInput[index] = sum;
    }
}
