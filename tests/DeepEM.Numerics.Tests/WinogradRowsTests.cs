using DeepEM.Imaging.Randomness;
using DeepEM.Numerics.Layers;
using DeepEM.Numerics.Network;

namespace DeepEM.Numerics.Tests;

/// <summary>Winograd's F(m, k) down the columns against a float64 convolution and against the direct kernel.</summary>
public class WinogradRowsTests
{
    [Theory]
    [InlineData(4, 3)]
    [InlineData(6, 3)]
    [InlineData(4, 5)]
    [InlineData(2, 5)]
    [InlineData(2, 7)]
    public void The_matrices_compute_a_one_dimensional_correlation_exactly(int m, int k)
    {
        var (at, g, bt) = WinogradRows.Matrices(m, k);
        var n = m + k - 1;
        var rng = new DeterministicRandom((ulong)(m * 10 + k));
        var d = Enumerable.Range(0, n).Select(_ => rng.NextGaussian()).ToArray();
        var w = Enumerable.Range(0, k).Select(_ => rng.NextGaussian()).ToArray();
        var transformed = new double[n];
        for (var j = 0; j < n; j++)
        {
            double gw = 0, bd = 0;
            for (var r = 0; r < k; r++) gw += g[j, r] * w[r];
            for (var l = 0; l < n; l++) bd += bt[j, l] * d[l];
            transformed[j] = gw * bd;
        }
        for (var t = 0; t < m; t++)
        {
            double y = 0, expected = 0;
            for (var j = 0; j < n; j++) y += at[t, j] * transformed[j];
            for (var r = 0; r < k; r++) expected += w[r] * d[t + r];
            Assert.True(Math.Abs(y - expected) <= 1e-9 * (1 + Math.Abs(expected)), $"F({m},{k}) output {t}: {y} vs {expected}");
        }
    }

    // The rounding is a few times the direct kernel's (a transformed row mixes up to eight rows with weights up to 5, and
    // the products are mixed again); both are far below the 1e-5 within which dense scores must equal box-by-box ones.
    // Shapes of deepem-48's layers as dense scoring meets them (dilations 2 and 4), a width that is not a multiple of 16,
    // rows that leave a remainder past the last whole tile, and a segment shorter than a chunk at the row's end.
    [Theory]
    [InlineData(6, 12, 5, 4, 2, 203, 37, Activation.Sigmoid)]
    [InlineData(12, 12, 3, 6, 4, 131, 53, Activation.Sigmoid)]
    [InlineData(12, 12, 3, 4, 4, 262, 40, Activation.Relu)]
    [InlineData(6, 12, 5, 4, 1, 70, 19, null)]
    [InlineData(3, 5, 3, 6, 2, 16, 30, null)]
    [InlineData(6, 12, 5, 4, 2, 300, 17, Activation.Sigmoid)]      // a second segment of 44 px
    [InlineData(12, 12, 3, 6, 4, 512, 24, null)]                   // whole segments, no remainder rows
    public void Forward_equals_a_float64_convolution_and_the_direct_kernel(int inChannels, int outChannels, int k, int m, int dilation,
        int width, int outRows, Activation? activation)
    {
        var rng = new DeterministicRandom((ulong)(inChannels * 1000 + k * 100 + m * 10 + dilation));
        var stride = width;
        // The input planes as small as the direct kernel's contract allows, each followed by NaN where nothing may read
        // that a defined output depends on; NaN past the output's and the scratch's ends, where nothing may write.
        const int sentinels = 64;
        var slack = dilation * (k - 1) + Convolution.PixelBlock;
        var inPlane = (outRows + dilation * (k - 1)) * stride + slack;
        var input = Enumerable.Range(0, inChannels * inPlane + sentinels).Select(_ => (float)rng.NextGaussian()).ToArray();
        for (var i = 0; i < inChannels; i++) input.AsSpan(i * inPlane + inPlane - slack, slack).Fill(float.NaN);
        input.AsSpan(inChannels * inPlane).Fill(float.NaN);
        var weights = Enumerable.Range(0, outChannels * inChannels * k * k).Select(_ => (float)(0.3 * rng.NextGaussian())).ToArray();
        var bias = Enumerable.Range(0, outChannels).Select(_ => (float)(0.2 * rng.NextGaussian())).ToArray();
        var outPlane = (outRows * stride + Convolution.PixelBlock - 1) / Convolution.PixelBlock * Convolution.PixelBlock;
        var padded = Convolution.PaddedOutputs(outChannels);

        Assert.True(WinogradRows.Applies(stride, outRows, m, dilation));
        var winograd = new WinogradRows(weights, bias, outChannels, inChannels, k, m);
        var fast = new float[padded * outPlane + sentinels];
        fast.AsSpan(padded * outPlane).Fill(float.NaN);
        var scratch = new float[winograd.ScratchLength(dilation) + sentinels];
        scratch.AsSpan(scratch.Length - sentinels).Fill(float.NaN);
        winograd.Forward(input, inPlane, stride, fast, outRows, outPlane, dilation, activation, scratch.AsSpan(0, scratch.Length - sentinels));
        Assert.All(fast[(padded * outPlane)..], v => Assert.True(float.IsNaN(v), "written past the output planes"));
        Assert.All(scratch[^sentinels..], v => Assert.True(float.IsNaN(v), "written past the scratch"));
        var packed = new float[Convolution.PackedLength(outChannels, inChannels, k)];
        Convolution.PackWeights(weights, outChannels, inChannels, k, packed);
        var direct = new float[padded * outPlane];
        Convolution.Forward(input, inChannels, inPlane, stride, packed, bias, outChannels, k, direct, outRows, outPlane, dilation, activation);

        double worstReference = 0, worstDirect = 0, directReference = 0, largest = 0;
        for (var o = 0; o < outChannels; o++)
        {
            for (var y = 0; y < outRows; y++)
            {
                // Only the output width holds defined values (x past it reads across the row's end, in both kernels alike).
                for (var x = 0; x < width - dilation * (k - 1); x++)
                {
                    double z = bias[o], magnitude = Math.Abs(bias[o]);
                    for (var i = 0; i < inChannels; i++)
                        for (var ky = 0; ky < k; ky++)
                            for (var kx = 0; kx < k; kx++)
                            {
                                var term = (double)input[i * inPlane + (y + dilation * ky) * stride + x + dilation * kx] * weights[((o * inChannels + i) * k + ky) * k + kx];
                                z += term;
                                magnitude += Math.Abs(term);
                            }
                    var expected = activation switch
                    {
                        Activation.Sigmoid => 1 / (1 + Math.Exp(-z)),
                        Activation.Relu => Math.Max(z, 0),
                        _ => z,
                    };
                    // Relative to the sum of the terms' magnitudes, the scale of any float32 sum's rounding (a sum that cancels
                    // to near zero keeps the rounding of its large terms); the activations only shrink it.
                    var scale = magnitude;
                    var got = fast[o * outPlane + y * stride + x];
                    worstReference = Math.Max(worstReference, Math.Abs(got - expected) / scale);
                    worstDirect = Math.Max(worstDirect, Math.Abs(got - direct[o * outPlane + y * stride + x]) / scale);
                    directReference = Math.Max(directReference, Math.Abs(direct[o * outPlane + y * stride + x] - expected) / scale);
                    largest = Math.Max(largest, Math.Abs(expected));
                }
            }
        }
        Assert.True(largest > 0.5, $"the outputs must not be near zero for the comparison to mean something ({largest})");
        Assert.True(worstReference <= 2e-6, $"largest relative difference from float64: {worstReference:E2} (the direct kernel's: {directReference:E2})");
        Assert.True(worstDirect <= 2e-6, $"largest relative difference from the direct kernel: {worstDirect:E2}");
    }
}
