using System.Runtime.Intrinsics;
using DeepEM.Imaging.Randomness;
using DeepEM.Numerics.Layers;

namespace DeepEM.Numerics.Tests;

public class VectorExpTests
{
    [Fact]
    public void Exp_is_within_1_3e7_of_the_float64_exponential_over_the_range_of_floats_and_passes_NaN_on()
    {
        Assert.True(VectorExp.IsSupported, "this machine has FMA; the dense scorer depends on it");
        var rng = new DeterministicRandom(91);
        var worst = 0.0;
        var values = new float[8];
        for (var i = 0; i < 200_000; i++)
        {
            for (var l = 0; l < 8; l++) values[l] = (float)rng.NextDouble(-87, 88);
            var e = VectorExp.Exp(Vector256.Create(values));
            for (var l = 0; l < 8; l++) worst = Math.Max(worst, Math.Abs(e[l] - Math.Exp(values[l])) / Math.Exp(values[l]));
        }
        // One float ulp is 6e-8 to 1.2e-7 of the value; measured 1.17e-7.
        Assert.True(worst <= 1.3e-7, $"largest relative error {worst:E2}");
        Assert.True(float.IsNaN(VectorExp.Exp(Vector256.Create(float.NaN))[0]), "NaN must not be clamped into a number");
        // Past the clamps the sigmoid is 0 or 1 to float precision either way.
        var far = VectorExp.Exp(Vector256.Create(-200f, -88f, 0f, 1f, 88.5f, 200f, -1f, 10f));
        Assert.True(far[0] < 1e-37 && far[1] < 1e-37 && far[4] > 1e38 && far[5] > 1e38 && !float.IsInfinity(far[5]), $"{far}");
        Assert.Equal(1f, far[2]);
        Assert.Equal(MathF.E, far[3], 6);
    }
}
