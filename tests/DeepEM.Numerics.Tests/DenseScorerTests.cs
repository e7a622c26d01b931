using DeepEM.Imaging.Randomness;
using DeepEM.Numerics.Backends.Managed;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Scoring;
using DeepEM.Numerics.Training;

namespace DeepEM.Numerics.Tests;

/// <summary>Dense (fully convolutional) scores against boxes cut out and scored one by one, as the paper's raster scan does.</summary>
public class DenseScorerTests
{
    [Theory]
    [InlineData("small", 97, 71, 1L << 30)]
    [InlineData("small", 64, 90, 60_000)]          // tiny budget: many bands with halos
    [InlineData(Presets.Default, 131, 117, 1L << 30)]
    [InlineData(Presets.Default, 120, 260, 400_000)]   // three bands of at least two boxes
    [InlineData(Presets.DefaultRelu, 101, 97, 1L << 30)]
    public void Dense_scores_equal_the_scores_of_cut_out_boxes_averaged_over_rotations(string name, int width, int height, long budget)
    {
        var arch = ManagedBackendTests.Build(name);
        var parameters = TestData.Parameters(arch, 61);
        var rng = new DeterministicRandom(62);
        var image = Enumerable.Range(0, width * height).Select(_ => (float)rng.NextGaussian()).ToArray();
        // Dark discs, like particles, so that scores differ from place to place.
        for (var k = 0; k < Math.Max(8, width * height / 1500); k++)
        {
            double cx = rng.NextDouble(0, width), cy = rng.NextDouble(0, height), radius = rng.NextDouble(4, 12);
            for (var y = 0; y < height; y++)
                for (var x = 0; x < width; x++)
                    if ((x - cx) * (x - cx) + (y - cy) * (y - cy) < radius * radius) image[y * width + x] -= 3;
        }
        var map = new DenseScorer(arch, parameters, bandBudgetBytes: budget).Score(image, width, height);
        var b = arch.BoxSize;
        Assert.Equal((width - b + 1, height - b + 1), (map.Width, map.Height));

        using var backend = new ManagedBackend(arch);
        var positions = new List<(int x, int y)> { (0, 0), (map.Width - 1, 0), (0, map.Height - 1), (map.Width - 1, map.Height - 1) };
        for (var i = 0; i < 40; i++) positions.Add((rng.NextInt(map.Width), rng.NextInt(map.Height)));
        var box = new float[b * b];
        var rotatedBoxes = new float[4 * b * b];
        var scores = new float[4];
        var spread = new List<float>();
        foreach (var (x0, y0) in positions)
        {
            for (var y = 0; y < b; y++) image.AsSpan((y0 + y) * width + x0, b).CopyTo(box.AsSpan(y * b, b));
            for (var r = 0; r < 4; r++) BoxRotation.Rotate(box, rotatedBoxes.AsSpan(r * b * b, b * b), b, r);
            backend.Score(parameters, rotatedBoxes, 4, scores);
            var expected = scores.Average();
            spread.Add(expected);
            Assert.True(Math.Abs(map[x0, y0] - expected) <= 1e-5, $"box at ({x0},{y0}): dense {map[x0, y0]} vs cut-out {expected}");
        }
        Assert.True(spread.Max() - spread.Min() > 0.01, $"scores must vary across positions for the comparison to mean something ({spread.Min()}..{spread.Max()})");
    }

    [Theory]
    [InlineData(Presets.Default, 300, 410)]      // Winograd for C3 and C5, tails below their last whole tiles
    [InlineData(Presets.DefaultRelu, 261, 153)]
    [InlineData(Presets.Default, 200, 60)]       // a band of 13 score rows: every level computes in one or two steps
    [InlineData(Presets.Default, 200, 48)]       // C5's 23 rows, fewer than its tile group of 24: the direct kernel there
    [InlineData("large-kernel", 150, 170)]       // poolings of 3 and 1: other reaches, a tile group of 18
    [InlineData(Presets.PaperKlh, 290, 300)]     // the paper's network: 51 × 51 first kernel, a 272 px box
    public void A_band_streamed_a_few_rows_at_a_time_scores_to_the_bit_as_computed_whole(string name, int width, int height)
    {
        var arch = ManagedBackendTests.Build(name);
        var parameters = TestData.Parameters(arch, 81);
        var rng = new DeterministicRandom(82);
        var band = Enumerable.Range(0, width * height).Select(_ => (float)rng.NextGaussian()).ToArray();
        var box = arch.BoxSize;
        int columns = width - box + 1, rows = height - box + 1;
        float[] Scores(int step)
        {
            var scores = new float[rows * columns];
            new ManagedBandScorer(arch, parameters, step).ScoreBand(band, width, height, scores, columns);
            return scores;
        }
        // One step of the whole height computes every stage over the whole band at once, as before streaming.
        var whole = Scores(height);
        Assert.True(whole.Max() - whole.Min() > 1e-3, $"scores must vary ({whole.Min()}..{whole.Max()})");
        foreach (var step in new[] { 1, 7, ManagedBandScorer.DefaultStepRows, 32, 33, 100 })
        {
            var streamed = Scores(step);
            var differing = Enumerable.Range(0, whole.Length).Count(i => BitConverter.SingleToInt32Bits(whole[i]) != BitConverter.SingleToInt32Bits(streamed[i]));
            Assert.True(differing == 0, $"step {step}: {differing} of {whole.Length} scores differ from the whole band's");
        }
    }

    [Fact]
    public void The_scores_do_not_depend_on_how_many_cores_score_them()
    {
        // Nodes of one cluster have different cores: the same micrograph must get the same bits on each.
        var arch = ManagedBackendTests.Build(Presets.Default);
        var parameters = TestData.Parameters(arch, 91);
        var rng = new DeterministicRandom(92);
        const int width = 230, height = 190;
        var image = Enumerable.Range(0, width * height).Select(_ => (float)rng.NextGaussian()).ToArray();
        var one = new DenseScorer(arch, parameters, threads: 1).Score(image, width, height).Data;
        Assert.True(one.Max() - one.Min() > 1e-3, $"scores must vary ({one.Min()}..{one.Max()})");
        foreach (var threads in new[] { 2, 3, 8, 16 })
        {
            var many = new DenseScorer(arch, parameters, threads).Score(image, width, height).Data;
            Assert.True(one.AsSpan().SequenceEqual(many), $"{threads} threads: the scores differ from one thread's");
        }
    }

    [Fact]
    public void Single_rotation_scores_match_one_box()
    {
        var arch = TestData.Small();
        var parameters = TestData.Parameters(arch, 71);
        var rng = new DeterministicRandom(72);
        const int w = 50, h = 40;
        var image = Enumerable.Range(0, w * h).Select(_ => (float)rng.NextGaussian()).ToArray();
        var map = new DenseScorer(arch, parameters).Score(image, w, h, rotations: 1);
        using var backend = new ManagedBackend(arch);
        var b = arch.BoxSize;
        var box = new float[b * b];
        var score = new float[1];
        for (var y0 = 0; y0 < map.Height; y0 += 3)
        {
            for (var x0 = 0; x0 < map.Width; x0 += 5)
            {
                for (var y = 0; y < b; y++) image.AsSpan((y0 + y) * w + x0, b).CopyTo(box.AsSpan(y * b, b));
                backend.Score(parameters, box, 1, score);
                Assert.True(Math.Abs(map[x0, y0] - score[0]) <= 1e-5, $"({x0},{y0}): {map[x0, y0]} vs {score[0]}");
            }
        }
    }

    [Fact]
    public void Maxima_from_the_kept_map_buffer_are_those_of_a_fresh_map_after_a_larger_micrograph()
    {
        // The CPU scorer recombines into a buffer it keeps, one map after another and of other sizes: each micrograph's
        // maxima must be those of its own map, scored afresh.
        var arch = ManagedBackendTests.Build(Presets.Default);
        var parameters = TestData.Parameters(arch, 93);
        var rng = new DeterministicRandom(94);
        float[] Image(int w, int h) => Enumerable.Range(0, w * h).Select(_ => (float)rng.NextGaussian()).ToArray();
        var (large, small) = (Image(150, 140), Image(110, 96));
        var scorer = new DenseScorer(arch, parameters);
        foreach (var (image, w, h) in new[] { (large, 150, 140), (small, 110, 96), (large, 150, 140) })
        {
            var map = new DenseScorer(arch, parameters).Score(image, w, h);
            var median = map.Data.OrderBy(v => v).ElementAt(map.Data.Length / 2);
            var expected = LocalMaxima.Find(map.Data, map.Width, map.Height, median);
            Assert.True(expected.Count > 5, $"{expected.Count} maxima: too few to compare");
            var found = scorer.Maxima(image, w, h, median);
            Assert.Equal(expected.Select(m => (m.X, m.Y, m.Score)), found.Select(m => (m.X, m.Y, m.Score)));
        }
    }
}

/// <summary>
/// The GPU's dense path (tiled kernels, rotations stacked in one plane, recombined on the device), run on ILGPU's CPU
/// accelerator, against cut-out boxes on the managed backend and the managed dense scorer. Shapes small enough for CI,
/// chosen so that every case of the tiling happens: several tiles and phases per stage, maps not a multiple of six,
/// a non-square micrograph (turned rotations narrower than the stride), several bands, pooling of 1.
/// </summary>
public class IlgpuDenseScorerTests
{
    [Theory]
    [InlineData("small", 48, 80, 0L)]
    [InlineData("small", 70, 45, 60_000L)]
    [InlineData("small-relu", 50, 50, 0L)]
    [InlineData(Presets.Default, 60, 52, 0L)]
    [InlineData("large-kernel", 66, 50, 0L)]
    public void Tiled_dense_scores_equal_the_scores_of_cut_out_boxes_and_the_managed_dense_scorer(string name, int width, int height, long budget)
    {
        var arch = ManagedBackendTests.Build(name);
        var parameters = TestData.Parameters(arch, 81);
        var rng = new DeterministicRandom(82);
        var image = Enumerable.Range(0, width * height).Select(_ => (float)rng.NextGaussian()).ToArray();
        using var ilgpu = Backends.Ilgpu.IlgpuBackend.CreateCpu(arch);
        using var scorer = new Backends.Ilgpu.IlgpuDenseScorer(ilgpu, parameters, budget > 0 ? budget : null);
        var map = scorer.Score(image, width, height);
        if (budget > 0)
        {
            // Bands reuse the buffers of the band before and of the last micrograph: scored again, nothing changes.
            Assert.Equal(map.Data, scorer.Score(image, width, height).Data);
        }
        var managedMap = new DenseScorer(arch, parameters).Score(image, width, height);
        Assert.Equal((managedMap.Width, managedMap.Height), (map.Width, map.Height));
        using var backend = new ManagedBackend(arch);
        var b = arch.BoxSize;
        var box = new float[b * b];
        var rotated = new float[4 * b * b];
        var scores = new float[4];
        var p64 = TestData.ToDouble(parameters);
        for (var i = 0; i < 30; i++)
        {
            var (x0, y0) = (rng.NextInt(map.Width), rng.NextInt(map.Height));
            for (var y = 0; y < b; y++) image.AsSpan((y0 + y) * width + x0, b).CopyTo(box.AsSpan(y * b, b));
            for (var r = 0; r < 4; r++) BoxRotation.Rotate(box, rotated.AsSpan(r * b * b, b * b), b, r);
            backend.Score(parameters, rotated, 4, scores);
            Assert.True(Math.Abs(map[x0, y0] - scores.Average()) <= 1e-5, $"({x0},{y0}): ILGPU dense {map[x0, y0]} vs cut-out {scores.Average()}");
            // And the float64 reference network on the same four boxes.
            var reference = Enumerable.Range(0, 4).Average(r => ReferenceNetwork.Forward(arch, p64, TestData.ToDouble(rotated.AsSpan(r * b * b, b * b))).Y);
            Assert.True(Math.Abs(map[x0, y0] - reference) <= 1e-5, $"({x0},{y0}): ILGPU dense {map[x0, y0]} vs float64 reference {reference}");
        }
        var spread = managedMap.Data.Max() - managedMap.Data.Min();
        Assert.True(spread > 1e-3, $"scores spread {spread}: a flat map would prove nothing");
        for (var i = 0; i < map.Data.Length; i++)
        {
            Assert.True(Math.Abs(map.Data[i] - managedMap.Data[i]) <= 1e-5, $"position {i}: ILGPU {map.Data[i]} vs managed {managedMap.Data[i]}");
        }
    }

    [Fact]
    public void One_rotation_scores_equal_the_managed_ones()
    {
        var arch = TestData.Small();
        var parameters = TestData.Parameters(arch, 83);
        var rng = new DeterministicRandom(84);
        const int width = 41, height = 57;
        var image = Enumerable.Range(0, width * height).Select(_ => (float)rng.NextGaussian()).ToArray();
        using var ilgpu = Backends.Ilgpu.IlgpuBackend.CreateCpu(arch);
        using var scorer = ilgpu.CreateDenseScorer(parameters);
        var map = scorer.Score(image, width, height, rotations: 1);
        var managed = new DenseScorer(arch, parameters).Score(image, width, height, rotations: 1);
        var err = map.Data.Zip(managed.Data, (a, c) => Math.Abs(a - c)).Max();
        Assert.True(err <= 1e-5, $"largest difference {err:E2}");
    }

    [Fact]
    public void Local_maxima_found_on_the_device_are_the_cpu_ones_ties_included()
    {
        var arch = TestData.Small();
        var parameters = TestData.Parameters(arch, 85);
        var rng = new DeterministicRandom(86);
        const int width = 64, height = 50;
        var image = Enumerable.Range(0, width * height).Select(_ => (float)rng.NextGaussian()).ToArray();
        using var ilgpu = Backends.Ilgpu.IlgpuBackend.CreateCpu(arch);
        using var scorer = ilgpu.CreateDenseScorer(parameters);
        var cpu = new DenseScorer(arch, parameters);
        var map = cpu.Score(image, width, height);
        var median = map.Data.OrderBy(v => v).ElementAt(map.Data.Length / 2);
        var expected = LocalMaxima.Find(map.Data, map.Width, map.Height, median);
        Assert.True(expected.Count > 10, $"{expected.Count} maxima: too few to compare");
        var found = scorer.Maxima(image, width, height, median);
        Assert.Equal(expected.Select(m => (m.X, m.Y)), found.Select(m => (m.X, m.Y)));
        Assert.True(expected.Zip(found).All(p => Math.Abs(p.First.Score - p.Second.Score) <= 1e-5), "scores of the maxima differ");

        // A flat micrograph scores the same everywhere: one plateau, whose first position in raster order is the peak.
        var flat = Enumerable.Repeat(0.5f, width * height).ToArray();
        Assert.Equal([(0, 0)], scorer.Maxima(flat, width, height, 0f).Select(m => (m.X, m.Y)));
        Assert.Equal([(0, 0)], ((IDenseScorer)cpu).Maxima(flat, width, height, 0f).Select(m => (m.X, m.Y)));
    }
}
