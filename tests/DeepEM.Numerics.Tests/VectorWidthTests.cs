using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using DeepEM.Imaging.Randomness;
using DeepEM.Numerics.Layers;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Scoring;

namespace DeepEM.Numerics.Tests;

/// <summary>
/// The 512-bit kernels against the 256-bit ones, to the bit: a campaign's picks must not depend on which of its nodes
/// had AVX-512. The comparisons need a processor with both widths (this machine's Zen 5 has); on one without, only the
/// dispatch is checked, since there is no wide path to compare.
/// </summary>
public class VectorWidthTests
{
    private static bool Wide()
    {
        var hardware = Avx512F.IsSupported && Vector512.IsHardwareAccelerated && Fma.IsSupported;
        Assert.Equal(hardware, VectorWidth.WideAvailable);
        Assert.Equal(hardware ? 512 : Fma.IsSupported ? 256 : 32, VectorWidth.Bits);
        using (VectorWidth.Narrow())
        {
            Assert.False(VectorWidth.Wide);
            Assert.Equal(Fma.IsSupported ? 256 : 32, VectorWidth.Bits);
        }
        Assert.Equal(hardware, VectorWidth.Wide);
        return hardware;
    }

    private static int Differing(float[] a, float[] b) =>
        Enumerable.Range(0, a.Length).Count(i => BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i]));

    [Fact]
    public void The_wide_exponential_and_sigmoid_are_the_narrow_ones_to_the_bit()
    {
        if (!Wide()) return;
        var rng = new DeterministicRandom(31);
        var values = new float[16];
        var mismatches = 0;
        for (var i = 0; i < 100_000; i++)
        {
            for (var l = 0; l < 16; l++) values[l] = (float)rng.NextDouble(-100, 100);
            // Halfway cases of the rounding to n, ±0, the clamps and NaN among them.
            if (i == 0) values = [0f, -0f, float.NaN, -87.33654f, 88f, 0.5f / 1.44269504088896341f, -1.5f / 1.44269504088896341f, 1e-30f, -1e-30f, 88.1f, -87.4f, 2.5f / 1.44269504088896341f, float.PositiveInfinity, float.NegativeInfinity, 1f, -1f];
            var wide = Vector512.Create(values);
            var lo = Vector256.Create(values.AsSpan(0, 8));
            var hi = Vector256.Create(values.AsSpan(8, 8));
            foreach (var act in new[] { -1, 0, 1 })
            {
                var w = act < 0 ? VectorExp.Exp(wide) : Convolution.Activate(wide, act);
                var a = act < 0 ? VectorExp.Exp(lo) : Convolution.Activate(lo, act);
                var b = act < 0 ? VectorExp.Exp(hi) : Convolution.Activate(hi, act);
                for (var l = 0; l < 16; l++)
                {
                    var narrow = l < 8 ? a[l] : b[l - 8];
                    if (BitConverter.SingleToInt32Bits(w[l]) != BitConverter.SingleToInt32Bits(narrow)) mismatches++;
                }
            }
        }
        Assert.Equal(0, mismatches);
    }

    // Random input planes as small as the kernels' contract allows, kernels and biases.
    private static (float[] input, int inPlane, float[] weights, float[] bias, int outPlane) Layer(int inChannels, int outChannels, int k, int dilation, int stride, int outRows)
    {
        var rng = new DeterministicRandom((ulong)(inChannels * 1000 + outChannels * 100 + stride));
        var inPlane = (outRows + dilation * (k - 1)) * stride + dilation * (k - 1) + Convolution.PixelBlock;
        var input = Enumerable.Range(0, inChannels * inPlane).Select(_ => (float)rng.NextGaussian()).ToArray();
        var weights = Enumerable.Range(0, outChannels * inChannels * k * k).Select(_ => (float)(0.3 * rng.NextGaussian())).ToArray();
        var bias = Enumerable.Range(0, outChannels).Select(_ => (float)(0.2 * rng.NextGaussian())).ToArray();
        var outPlane = (outRows * stride + Convolution.PixelBlock - 1) / Convolution.PixelBlock * Convolution.PixelBlock;
        return (input, inPlane, weights, bias, outPlane);
    }

    // Odd and even numbers of 16-pixel chunks (the wide kernel takes pairs and leaves an odd last one to the narrow),
    // dilations, both activations and none.
    [Theory]
    [InlineData(1, 6, 5, 1, 37, 21, Activation.Sigmoid)]
    [InlineData(6, 12, 5, 2, 64, 13, Activation.Sigmoid)]
    [InlineData(12, 8, 3, 4, 101, 9, Activation.Relu)]
    [InlineData(3, 5, 3, 1, 16, 7, null)]
    public void The_wide_direct_convolution_is_the_narrow_one_to_the_bit(int inChannels, int outChannels, int k, int dilation, int stride, int outRows, Activation? activation)
    {
        var (input, inPlane, weights, bias, outPlane) = Layer(inChannels, outChannels, k, dilation, stride, outRows);
        var packed = new float[Convolution.PackedLength(outChannels, inChannels, k)];
        Convolution.PackWeights(weights, outChannels, inChannels, k, packed);
        float[] Run()
        {
            var output = new float[Convolution.PaddedOutputs(outChannels) * outPlane];
            Convolution.Forward(input, inChannels, inPlane, stride, packed, bias, outChannels, k, output, outRows, outPlane, dilation, activation);
            return output;
        }
        if (!Wide()) return;
        var wide = Run();
        float[] narrow;
        using (VectorWidth.Narrow()) narrow = Run();
        Assert.True(wide.Max() - wide.Min() > 0.1, "the outputs must vary");
        Assert.Equal(0, Differing(wide, narrow));
    }

    // deepem-48's Winograd layers, a row narrower than a wide chunk (narrow kernels only), a segment's remainder shorter
    // than a wide chunk but not a narrow one, and whole segments.
    [Theory]
    [InlineData(6, 12, 5, 4, 2, 203, 37, Activation.Sigmoid)]
    [InlineData(12, 12, 3, 6, 4, 131, 53, Activation.Sigmoid)]
    [InlineData(12, 12, 3, 4, 4, 262, 40, Activation.Relu)]
    [InlineData(3, 5, 3, 6, 2, 24, 30, null)]
    [InlineData(6, 12, 5, 4, 1, 276, 17, Activation.Sigmoid)]
    [InlineData(12, 12, 3, 6, 4, 512, 24, null)]
    public void The_wide_winograd_rows_are_the_narrow_ones_to_the_bit(int inChannels, int outChannels, int k, int m, int dilation, int stride, int outRows, Activation? activation)
    {
        var (input, inPlane, weights, bias, outPlane) = Layer(inChannels, outChannels, k, dilation, stride, outRows);
        var winograd = new WinogradRows(weights, bias, outChannels, inChannels, k, m);
        float[] Run()
        {
            var output = new float[Convolution.PaddedOutputs(outChannels) * outPlane];
            winograd.Forward(input, inPlane, stride, output, outRows, outPlane, dilation, activation, new float[winograd.ScratchLength(dilation)]);
            return output;
        }
        if (!Wide()) return;
        var wide = Run();
        float[] narrow;
        using (VectorWidth.Narrow()) narrow = Run();
        Assert.True(wide.Max() - wide.Min() > 0.1, "the outputs must vary");
        Assert.Equal(0, Differing(wide, narrow));
    }

    // Whole micrographs through every kernel (direct first layer, Winograd layers, dilated pooling, the output unit).
    [Theory]
    [InlineData(Presets.Default, 300, 270)]
    [InlineData(Presets.DefaultRelu, 261, 153)]
    [InlineData("large-kernel", 150, 170)]
    [InlineData(Presets.PaperKlh, 290, 300)]
    public void Dense_scores_on_wide_vectors_are_those_on_narrow_ones_to_the_bit(string name, int width, int height)
    {
        var arch = ManagedBackendTests.Build(name);
        var parameters = TestData.Parameters(arch, 41);
        var rng = new DeterministicRandom(42);
        var image = Enumerable.Range(0, width * height).Select(_ => (float)rng.NextGaussian()).ToArray();
        if (!Wide()) return;
        var wide = new DenseScorer(arch, parameters, threads: 2).Score(image, width, height).Data;
        float[] narrow;
        using (VectorWidth.Narrow()) narrow = new DenseScorer(arch, parameters, threads: 2).Score(image, width, height).Data;
        Assert.True(wide.Max() - wide.Min() > 1e-3, $"scores must vary ({wide.Min()}..{wide.Max()})");
        Assert.Equal(0, Differing(wide, narrow));
    }
}
