using DeepEM.Imaging;
using DeepEM.Imaging.Preprocessing;
using DeepEM.Imaging.Randomness;

namespace DeepEM.Formats.Tests.Preprocessing;

public class PreprocessingTests
{
    private static Image2D Random(int w, int h, ulong seed)
    {
        var rng = new DeterministicRandom(seed);
        var image = new Image2D(w, h);
        for (var i = 0; i < image.Data.Length; i++) image.Data[i] = (float)(5 + 3 * rng.NextGaussian());
        return image;
    }

    [Theory]
    [InlineData(2, 103, 9)]
    [InlineData(3, 103, 9)]
    [InlineData(4, 103, 9)]
    [InlineData(4, 1030, 6)]
    [InlineData(2, 70, 5)]
    public void Block_mean_binning_adds_in_the_scalar_order_to_the_bit(int factor, int width, int height)
    {
        // The vector paths (factors 2 and 4 on AVX-512) must give the scalar loop's float sums exactly, tails included:
        // a micrograph binned on one node and another must give the same picks. Where the processor has no AVX-512 this
        // compares the scalar loop with itself; this machine has it (VectorWidth).
        var image = Random(width, height, 11);
        var binned = Binning.BlockMean(image, factor);
        var scale = 1.0f / (factor * factor);
        var differing = 0;
        for (var y = 0; y < binned.Height; y++)
        {
            for (var x = 0; x < binned.Width; x++)
            {
                var acc = 0f;
                for (var dy = 0; dy < factor; dy++)
                {
                    var s = 0f;
                    for (var dx = 0; dx < factor; dx++) s += image[x * factor + dx, y * factor + dy];
                    acc += s;
                }
                if (BitConverter.SingleToInt32Bits(acc * scale) != BitConverter.SingleToInt32Bits(binned[x, y])) differing++;
            }
        }
        Assert.True(binned.Data.Distinct().Count() > binned.Data.Length / 2, "the binned pixels must vary");
        Assert.Equal(0, differing);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Block_mean_binning_matches_a_float64_reference_and_drops_the_remainder(int factor)
    {
        var image = Random(103, 77, 9);
        var binned = Binning.BlockMean(image, factor);
        Assert.Equal((103 / factor, 77 / factor), (binned.Width, binned.Height));
        for (var y = 0; y < binned.Height; y++)
        {
            for (var x = 0; x < binned.Width; x++)
            {
                double sum = 0;
                for (var dy = 0; dy < factor; dy++)
                for (var dx = 0; dx < factor; dx++)
                    sum += image[x * factor + dx, y * factor + dy];
                var expected = sum / (factor * factor);
                Assert.True(Math.Abs(binned[x, y] - expected) < 1e-5 * Math.Max(1, Math.Abs(expected)), $"({x},{y}) {binned[x, y]} vs {expected}");
            }
        }
    }

    [Fact]
    public void Binned_coordinates_map_back_to_original_pixels()
    {
        // Binned pixel 0 of factor 4 covers original pixels 0..3: its centre is 1.5.
        Assert.Equal(1.5, Binning.ToOriginal(0, 4));
        Assert.Equal(0, Binning.ToBinned(1.5, 4));
        Assert.Equal(123.25, Binning.ToBinned(Binning.ToOriginal(123.25, 3), 3), 12);
    }

    [Fact]
    public void Normalisation_gives_zero_mean_unit_variance()
    {
        var image = Random(64, 48, 2);
        var removed = Normalization.ZeroMeanUnitVariance(image);
        Assert.InRange(removed.Mean, 4.8, 5.2);
        Assert.InRange(removed.StdDev, 2.9, 3.1);
        var after = ImageStatistics.Of(image);
        Assert.True(Math.Abs(after.Mean) < 1e-6);
        Assert.True(Math.Abs(after.StdDev - 1) < 1e-5);
    }

    [Fact]
    public void Normalisation_rejects_non_finite_pixels()
    {
        var image = Random(8, 8, 3);
        image.Data[10] = float.NaN;
        var e = Assert.Throws<NonFinitePixelsException>(() => Normalization.ZeroMeanUnitVariance(image));
        Assert.Equal(1, e.Count);
    }

    [Fact]
    public void Deterministic_random_is_fixed_by_its_seed()
    {
        // Pinned values: these must never change, or every simulated dataset and trained model changes with them.
        var rng = new DeterministicRandom(7);
        var first = Enumerable.Range(0, 3).Select(_ => rng.NextUInt64()).ToArray();
        Assert.Equal(new ulong[] { 12923355070828475994, 5142052590334782674, 15488392906492639638 }, first);
        var again = new DeterministicRandom(7);
        Assert.Equal(first, Enumerable.Range(0, 3).Select(_ => again.NextUInt64()).ToArray());
        Assert.NotEqual(first[0], new DeterministicRandom(8).NextUInt64());
        var g = new DeterministicRandom(1);
        var samples = Enumerable.Range(0, 20000).Select(_ => g.NextGaussian()).ToArray();
        Assert.InRange(samples.Average(), -0.03, 0.03);
        Assert.InRange(Math.Sqrt(samples.Select(v => v * v).Average()), 0.97, 1.03);
        var poisson = Enumerable.Range(0, 20000).Select(_ => (double)g.NextPoisson(4.5)).ToArray();
        Assert.InRange(poisson.Average(), 4.4, 4.6);
    }
}
