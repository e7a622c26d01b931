using System.Diagnostics;
using DeepEM.Imaging.Randomness;
using DeepEM.Numerics.Backends.Managed;
using DeepEM.Numerics.Layers;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Scoring;
using DeepEM.Numerics.Training;

namespace DeepEM.Pipeline.Benchmarks;

/// <summary>One row of the scoring table: a preset on a micrograph size, dense against the naive raster scan.</summary>
public sealed record ScoringRate(
    string Preset,
    int MicrographSize,
    int Binning,
    int ScoredSize,
    long Positions,
    double DenseSeconds,
    double NaiveSeconds,
    int NaiveSampled,
    double DenseGflop,
    double NaiveGflop,
    long PeakWorkingSetBytes)
{
    public double DenseGflops => DenseGflop / DenseSeconds;
    public double NaiveGflops => NaiveGflop / NaiveSeconds;
    public double Speedup => NaiveSeconds / DenseSeconds;
}

/// <summary>
/// Scoring speed of a whole micrograph at every position (stride 1, four rotations), the output both paths
/// give identically: the dense path timed whole (after a warm-up, so compilation is not counted; best of up to three), the
/// naive raster scan timed on a sample of positions and scaled to all of them (scanning a 4096² micrograph
/// box by box would take hours). FLOPs are counted from the layer sizes over the positions each path computes.
/// </summary>
public static class PickingBenchmark
{
    public static ScoringRate Measure(string preset, int micrographSize, int binning, int naiveSample)
    {
        var scored = micrographSize / binning;
        var arch = Presets.Create(preset);
        var parameters = WeightInitialization.Create(arch, 1);
        var rng = new DeterministicRandom(3);
        var image = new float[scored * scored];
        for (var i = 0; i < image.Length; i++) image[i] = (float)rng.NextGaussian();
        var scorer = new DenseScorer(arch, parameters);
        // Warm up on a small image (same code, compiled and buffers made), then the best of up to three runs,
        // stopping once a run has taken over a second (the 4096² paper-klh case takes about a minute).
        var warm = Math.Min(scored, 2 * arch.BoxSize + 64);
        scorer.Score(image.AsSpan(0, warm * warm), warm, warm);
        var dense = double.MaxValue;
        var watch = new Stopwatch();
        ScoreMap map = null!;
        for (var run = 0; run < 3; run++)
        {
            watch.Restart();
            map = scorer.Score(image, scored, scored);
            dense = Math.Min(dense, watch.Elapsed.TotalSeconds);
            if (dense > 1) break;
        }
        var peak = Process.GetCurrentProcess().PeakWorkingSet64;
        var positions = (long)map.Width * map.Height;

        // Naive: cut, rotate and score a sample of boxes, as the raster scan does for every position.
        var box = arch.BoxSize;
        var pixels = box * box;
        var boxes = new float[naiveSample * 4 * pixels];
        var single = new float[pixels];
        for (var k = 0; k < naiveSample; k++)
        {
            int x0 = rng.NextInt(map.Width), y0 = rng.NextInt(map.Height);
            for (var y = 0; y < box; y++) image.AsSpan((y0 + y) * scored + x0, box).CopyTo(single.AsSpan(y * box, box));
            for (var r = 0; r < 4; r++) BoxRotation.Rotate(single, boxes.AsSpan((4 * k + r) * pixels, pixels), box, r);
        }
        using var backend = new ManagedBackend(arch);
        var scores = new float[naiveSample * 4];
        backend.Score(parameters, boxes.AsSpan(0, 4 * pixels), 4, scores);
        watch.Restart();
        backend.Score(parameters, boxes, naiveSample * 4, scores);
        var naive = watch.Elapsed.TotalSeconds / naiveSample * positions;

        return new ScoringRate(preset, micrographSize, binning, scored, positions, dense, naive, naiveSample,
            DenseFlops(arch, scored) / 1e9, 2.0 * 4 * arch.ForwardMacs * positions / 1e9, peak);
    }

    /// <summary>Multiply-adds ×2 of dense scoring an n×n image in four rotations, over the valid positions of every map.</summary>
    public static double DenseFlops(NetworkArchitecture arch, int n) => DenseFlops(arch, n, winograd: false);

    /// <summary>
    /// The same, or with <paramref name="winograd"/> the multiply-adds of the products the CPU scorer computes (a layer with
    /// Winograd's F(m, k) down the columns takes (m + k − 1)·k per m rows instead of m·k², <see cref="WinogradRows"/>; its
    /// transforms not counted): the floor of what the arithmetic done costs.
    /// </summary>
    public static double DenseFlops(NetworkArchitecture arch, int n, bool winograd)
    {
        double macs = 0;
        long rows = n, d = 1;
        foreach (var st in arch.Stages)
        {
            var convRows = rows - d * (st.Kernel - 1);
            var taps = winograd && WinogradRows.TileFor(st.Kernel, st.InChannels) is { } m
                ? (m + st.Kernel - 1.0) * st.Kernel / m
                : st.Kernel * st.Kernel;
            macs += (double)convRows * convRows * st.OutChannels * st.InChannels * taps;
            rows = convRows - d * (st.Pool - 1);
            d *= st.Pool;
        }
        var outRows = n - arch.BoxSize + 1;
        macs += (double)outRows * outRows * arch.DenseInputs;
        return 2 * 4 * macs;
    }

    /// <summary>Forward-plus-backward boxes per second on the managed backend, batches of 32.</summary>
    public static double TrainingBoxesPerSecond(string preset, double seconds)
    {
        var arch = Presets.Create(preset);
        var parameters = WeightInitialization.Create(arch, 1);
        var rng = new DeterministicRandom(4);
        const int batch = 32;
        var boxes = new float[batch * arch.BoxSize * arch.BoxSize];
        for (var i = 0; i < boxes.Length; i++) boxes[i] = (float)rng.NextGaussian();
        var targets = Enumerable.Range(0, batch).Select(i => (float)(i % 2)).ToArray();
        var gradient = new float[arch.ParameterCount];
        using var backend = new ManagedBackend(arch);
        backend.Gradient(parameters, boxes, targets, batch, LossKind.SquaredError, gradient, new float[batch]);
        var watch = Stopwatch.StartNew();
        long done = 0;
        while (watch.Elapsed.TotalSeconds < seconds)
        {
            backend.Gradient(parameters, boxes, targets, batch, LossKind.SquaredError, gradient, new float[batch]);
            done += batch;
        }
        return done / watch.Elapsed.TotalSeconds;
    }
}
