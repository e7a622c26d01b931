using DeepEM.Imaging.Fourier;
using DeepEM.Imaging.Randomness;

namespace DeepEM.Simulation.Tests;

public class FftTests
{
    private static (double re, double im)[] NaiveDft(float[] re, float[] im)
    {
        var n = re.Length;
        var result = new (double, double)[n];
        for (var k = 0; k < n; k++)
        {
            double sr = 0, si = 0;
            for (var t = 0; t < n; t++)
            {
                var a = -2 * Math.PI * k * t / n;
                sr += re[t] * Math.Cos(a) - im[t] * Math.Sin(a);
                si += re[t] * Math.Sin(a) + im[t] * Math.Cos(a);
            }
            result[k] = (sr, si);
        }
        return result;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(8)]
    [InlineData(64)]
    [InlineData(512)]
    public void Forward_matches_a_float64_dft(int n)
    {
        var rng = new DeterministicRandom((ulong)n);
        var re = Enumerable.Range(0, n).Select(_ => (float)rng.NextGaussian()).ToArray();
        var im = Enumerable.Range(0, n).Select(_ => (float)rng.NextGaussian()).ToArray();
        var expected = NaiveDft(re, im);
        FftPlan.For(n).Forward(re, im);
        var scale = Math.Sqrt(n);
        for (var k = 0; k < n; k++)
        {
            Assert.True(Math.Abs(re[k] - expected[k].re) < 1e-5 * scale * 4, $"re[{k}] {re[k]} vs {expected[k].re}");
            Assert.True(Math.Abs(im[k] - expected[k].im) < 1e-5 * scale * 4, $"im[{k}] {im[k]} vs {expected[k].im}");
        }
    }

    [Fact]
    public void Inverse_undoes_forward_up_to_n()
    {
        var rng = new DeterministicRandom(3);
        const int n = 256;
        var re = Enumerable.Range(0, n).Select(_ => (float)rng.NextGaussian()).ToArray();
        var im = new float[n];
        var original = (float[])re.Clone();
        var plan = FftPlan.For(n);
        plan.Forward(re, im);
        plan.Inverse(re, im);
        for (var i = 0; i < n; i++)
        {
            Assert.Equal(original[i], re[i] / n, 4);
            Assert.Equal(0, im[i] / n, 4);
        }
    }

    [Fact]
    public void Two_dimensional_transform_of_a_plane_wave_is_one_peak()
    {
        // cos(2π(3x/32 + 5y/16)) on a 32-wide, 16-high grid: energy only at (kx, ky) = (3, 5) and (−3, −5).
        const int w = 32, h = 16;
        var re = new float[w * h];
        var im = new float[w * h];
        for (var y = 0; y < h; y++)
            for (var x = 0; x < w; x++)
                re[y * w + x] = (float)Math.Cos(2 * Math.PI * (3.0 * x / w + 5.0 * y / h));
        Fft2D.Forward(re, im, w, h);
        for (var y = 0; y < h; y++)
        {
            for (var x = 0; x < w; x++)
            {
                var magnitude = Math.Sqrt(re[y * w + x] * re[y * w + x] + im[y * w + x] * im[y * w + x]);
                var peak = (x == 3 && y == 5) || (x == w - 3 && y == h - 5);
                Assert.Equal(peak ? w * h / 2.0 : 0, magnitude, 2);
            }
        }
    }

    [Fact]
    public void Lengths_that_are_not_powers_of_two_are_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => FftPlan.For(1000));
}
