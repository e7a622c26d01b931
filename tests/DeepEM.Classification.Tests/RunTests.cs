using DeepEM.Classification.Internal;
using DeepEM.Imaging.Randomness;

namespace DeepEM.Classification.Tests;

/// <summary>The reductions of a run: principal components, and a whole run on two shapes in noise.</summary>
public sealed class RunTests
{
    [Fact]
    public void Principal_components_from_summed_moments_find_the_direction_of_largest_spread()
    {
        // Points spread mostly along (3, 4)/5, a little along (−4, 3)/5, about a mean of (1, −2).
        var rng = new DeterministicRandom(3);
        var points = Enumerable.Range(0, 2000).Select(_ =>
        {
            var a = 5 * rng.NextGaussian();
            var b = 0.5 * rng.NextGaussian();
            return new[] { 1 + a * 0.6 - b * 0.8, -2 + a * 0.8 + b * 0.6 };
        }).ToList();
        var sum = new double[2];
        var outer = new double[4];
        foreach (var p in points)
        {
            for (var i = 0; i < 2; i++)
            {
                sum[i] += p[i];
                for (var j = 0; j < 2; j++) outer[i * 2 + j] += p[i] * p[j];
            }
        }
        var projection = PrincipalComponents.From(points.Count, sum, outer, 2);
        Assert.Equal(2, projection.Components);
        Assert.Equal(1.0, projection.Mean[0], 0.3);
        Assert.Equal(-2.0, projection.Mean[1], 0.3);
        // First component along ±(0.6, 0.8), signed so its largest entry is positive.
        Assert.Equal(0.6, projection.Basis[0], 0.02);
        Assert.Equal(0.8, projection.Basis[1], 0.02);
        Assert.Equal(0.0, projection.Basis[0] * projection.Basis[2] + projection.Basis[1] * projection.Basis[3], 1e-6);
    }

    [Fact]
    public void A_run_over_two_shapes_in_noise_puts_each_shape_in_its_own_class_whatever_the_shard_order()
    {
        var geometry = ParticleGeometry.For(32, 26, 3);
        var rng = new DeterministicRandom(5);
        var pixels = geometry.Pixels;
        // Two shapes (the test particle and a two-lobed one), each turned and moved at random, in noise of σ = 1.
        var shards = new List<ShardComputation>();
        var truth = new List<int[]>();
        for (var s = 0; s < 3; s++)
        {
            var count = 40;
            var images = new float[count * pixels];
            var kinds = new int[count];
            for (var i = 0; i < count; i++)
            {
                kinds[i] = (i + s) % 2;
                var turn = rng.NextDouble(0, 2 * Math.PI);
                var image = kinds[i] == 0
                    ? AlignmentTests.Particle(turn, rng.NextInt(5) - 2, rng.NextInt(5) - 2)
                    : TwoLobes(geometry, turn, rng.NextInt(5) - 2, rng.NextInt(5) - 2);
                for (var p = 0; p < pixels; p++) image[p] = 2.5f * image[p] + (float)rng.NextGaussian();
                Assert.True(ParticleNormalization.Apply(image, geometry));
                image.CopyTo(images, i * pixels);
            }
            shards.Add(new ShardComputation(s, new ParticleSet(geometry, images, Enumerable.Range(0, count).ToArray())));
            truth.Add(kinds);
        }
        var options = new ClassificationOptions { Classes = 2, AlignmentRounds = 4 };
        var result = ClassificationRun.RunLocally(geometry, options, shards);
        var pure = 0;
        var confusion = new int[2, 2];
        for (var s = 0; s < 3; s++)
        {
            foreach (var a in result.Assignments[s]) confusion[a.Class, truth[s][a.Source]]++;
        }
        pure = Math.Max(confusion[0, 0] + confusion[1, 1], confusion[0, 1] + confusion[1, 0]);
        Assert.True(pure >= 114, $"{pure} of 120 in the right class ({confusion[0, 0]} {confusion[0, 1]} / {confusion[1, 0]} {confusion[1, 1]})");
        Assert.Equal(120, result.Classes.Sum(c => c.Count));

        // The parts are added in shard order, so handing them in in another order changes nothing.
        var run = new ClassificationRun(geometry, options, 3, 120);
        while (run.Current is { } step) run.Complete(shards.Select(s => s.Compute(step)).Reverse().ToList());
        for (var k = 0; k < 2; k++)
        {
            var (a, b) = (result.Classes[k].Image, run.Result!.Classes[k].Image);
            var first = Enumerable.Range(0, a.Length).FirstOrDefault(i => a[i] != b[i], -1);
            Assert.True(first < 0, $"class {k + 1} differs at pixel {first}: {(first < 0 ? 0 : a[first])} and {(first < 0 ? 0 : b[first])}");
        }

    }

    private static float[] TwoLobes(ParticleGeometry geometry, double turn, double dx, double dy)
    {
        var n = geometry.Size;
        var c = geometry.Centre;
        var (sin, cos) = Math.SinCos(turn);
        var image = new float[n * n];
        for (var y = 0; y < n; y++)
        {
            for (var x = 0; x < n; x++)
            {
                double v = 0;
                foreach (var (bx0, by0) in new[] { (-4.0, 0.0), (4.0, 0.0) })
                {
                    var bx = c + cos * bx0 - sin * by0 + dx;
                    var by = c + sin * bx0 + cos * by0 + dy;
                    v += Math.Exp(-((x - bx) * (x - bx) + (y - by) * (y - by)) / 8);
                }
                image[y * n + x] = (float)v;
            }
        }
        return image;
    }
}
