using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using DeepEM.Formats.Coordinates;
using DeepEM.Formats.Mrc;
using DeepEM.Imaging.Randomness;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.Backends.Ilgpu;
using DeepEM.Numerics.Backends.Managed;
using DeepEM.Numerics.Benchmarks;
using DeepEM.Numerics.ModelFile;
using DeepEM.Numerics.ModelFile.Proto;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Scoring;
using DeepEM.Numerics.Training;
using DeepEM.Pipeline.Picking;
using DeepEM.Pipeline.Preparation;
using DeepEM.Simulation;

namespace DeepEM.Pipeline.Benchmarks;

/// <summary>What the device check runs: full sizes on a GPU, tiny ones on ILGPU's CPU accelerator.</summary>
public sealed record DeviceBenchSettings
{
    public DeviceChoice Device { get; init; } = DeviceChoice.Gpu;

    /// <summary>Which GPU (<see cref="IlgpuBackend.GpuNames"/>); the first when null.</summary>
    public int? Gpu { get; init; }

    public IReadOnlyList<string> Presets { get; init; } = [Numerics.Network.Presets.Default, Numerics.Network.Presets.PaperKlh];

    /// <summary>Side of the simulated micrographs; the dense timing scores micrographs binned from this size.</summary>
    public int MicrographSize { get; init; } = 4096;

    public int Binning { get; init; } = 4;

    /// <summary>Files of the end-to-end run (a few distinct simulated micrographs, copied under other names).</summary>
    public int Micrographs { get; init; } = 96;

    public int Repeats { get; init; } = 5;

    public int TrainingBatch { get; init; } = 1024;

    /// <summary>Width of the random image of the GPU-against-CPU check (its height is three quarters of it; at least box + 8).</summary>
    public int CheckSize { get; init; } = 400;

    /// <summary>Threads that read, bin and normalise micrographs while the device scores; all cores but one by default.</summary>
    public int ReaderThreads { get; init; } = Math.Max(1, Environment.ProcessorCount - 1);

    public string WorkDirectory { get; init; } = Path.Combine(Path.GetTempPath(), "deepem-device-bench");

    /// <summary>Full sizes for a GPU; on ILGPU's CPU accelerator (about 50× slower than the managed backend) sizes that end in minutes.</summary>
    public static DeviceBenchSettings For(DeviceChoice device) => device == DeviceChoice.IlgpuCpu
        ? new DeviceBenchSettings
        {
            Device = device, MicrographSize = 256, Binning = 4, Micrographs = 6, Repeats = 2, TrainingBatch = 64, CheckSize = 72,
            ReaderThreads = 1, Presets = [Numerics.Network.Presets.Default],
        }
        : new DeviceBenchSettings { Device = device };
}

/// <summary>
/// The GPU node check of docs/benchmarks.md, one run: the device against the managed CPU backend on random inputs
/// (every score and every gradient chunk), dense scoring of a binned micrograph per preset with the device's share
/// of its float32 peak and the time of each step, training boxes per second, and end to end a folder of simulated
/// MRC micrographs (read, bin, normalise, score, peaks, write) with reading overlapped with scoring, and the picks of
/// the device against the CPU's. Prints Markdown tables; returns false when a check fails.
/// </summary>
public static class DeviceBenchmark
{
    public const double ScoreTolerance = 1e-4;

    public static bool Run(DeviceBenchSettings s, TextWriter o)
    {
        var ok = true;
        var first = Presets.Create(s.Presets[0]);
        double? peak;
        string device;
        (int Multiprocessors, int Lanes, double ClockGHz)? terms;
        using (var probe = BackendFactory.Create(first, s.Device, s.Gpu))
        {
            device = probe.Device;
            peak = (probe as IlgpuBackend)?.Float32PeakGFlops;
            terms = (probe as IlgpuBackend)?.PeakTerms;
        }
        var host = MachinePeak.Measure();
        o.WriteLine($"Device: {device}; float32 peak {(peak is { } p && terms is { } t ? Invariant($"{p / 1000:0.0} TFLOP/s ({t.Multiprocessors} multiprocessors × {t.Lanes} lanes × 2 × {t.ClockGHz:0.000} GHz)") : "unknown (not a CUDA device)")}");
        o.WriteLine($"Host: {host.Processor}, {Environment.ProcessorCount} cores, {host.GFlops:0} GFLOP/s FMA peak; .NET {Environment.Version}");
        var reference = peak ?? host.GFlops;
        var referenceName = peak is null ? "of the host's peak" : "of the card's peak";

        o.WriteLine();
        o.WriteLine("| check | preset | compared | largest difference | over 1e-4 | result |");
        o.WriteLine("| --- | --- | ---: | ---: | ---: | --- |");
        foreach (var preset in s.Presets)
        {
            ok &= CheckScores(s, preset, o);
        }
        ok &= CheckGradients(s, first, o);

        o.WriteLine();
        var n = s.MicrographSize / s.Binning;
        o.WriteLine($"Dense scoring of one {s.MicrographSize}² micrograph binned {s.Binning}× ({n}²), four rotations, every position (median of {s.Repeats} after a warm-up):");
        o.WriteLine();
        o.WriteLine($"| preset | ms | GFLOP | GFLOP/s | share {referenceName} | steps (ms) |");
        o.WriteLine("| --- | ---: | ---: | ---: | ---: | --- |");
        foreach (var preset in s.Presets)
        {
            DenseTiming(s, preset, n, reference, o);
        }

        o.WriteLine();
        Training(s, first, o);

        o.WriteLine();
        ok &= EndToEnd(s, o);
        o.WriteLine();
        o.WriteLine(ok ? "All checks passed." : "A CHECK FAILED (see above).");
        return ok;
    }

    private static bool CheckScores(DeviceBenchSettings s, string preset, TextWriter o)
    {
        var arch = Presets.Create(preset);
        var width = Math.Max(s.CheckSize, arch.BoxSize + 8);
        var height = Math.Max(width * 3 / 4, arch.BoxSize + 8);
        var parameters = WeightInitialization.Create(arch, 7);
        var image = RandomImage(width * height, 8);
        using var backend = BackendFactory.Create(arch, s.Device, s.Gpu);
        using var scorer = backend.CreateDenseScorer(parameters);
        var device = scorer.Score(image, width, height);
        var cpu = new DenseScorer(arch, parameters).Score(image, width, height);
        var worst = 0.0;
        var over = 0;
        var nonFinite = 0;
        for (var i = 0; i < cpu.Data.Length; i++)
        {
            if (!float.IsFinite(device.Data[i])) nonFinite++;
            var diff = Math.Abs((double)device.Data[i] - cpu.Data[i]);
            worst = Math.Max(worst, diff);
            if (!(diff <= ScoreTolerance)) over++;
        }
        var pass = over == 0 && nonFinite == 0 && device.Data.Length == cpu.Data.Length;
        o.WriteLine(Invariant($"| dense scores, {width}×{height} random image | {preset} | {cpu.Data.Length:N0} scores | {worst:E1} | {over}{(nonFinite > 0 ? $" ({nonFinite} not finite)" : "")} | {(pass ? "pass" : "FAIL")} |"));
        return pass;
    }

    private static bool CheckGradients(DeviceBenchSettings s, NetworkArchitecture arch, TextWriter o)
    {
        const int count = 4 * GradientChunks.Size + 3;
        var parameters = WeightInitialization.Create(arch, 9);
        var boxes = RandomImage(count * arch.BoxSize * arch.BoxSize, 10);
        var targets = Enumerable.Range(0, count).Select(i => (float)(i % 2)).ToArray();
        var chunks = GradientChunks.Count(count);
        var n = arch.ParameterCount;
        using var backend = BackendFactory.Create(arch, s.Device, s.Gpu);
        using var managed = new ManagedBackend(arch);
        var device = new float[chunks * n];
        var cpu = new float[chunks * n];
        backend.ChunkGradients(parameters, boxes, targets, count, LossKind.SquaredError, device, new double[chunks]);
        managed.ChunkGradients(parameters, boxes, targets, count, LossKind.SquaredError, cpu, new double[chunks]);
        var worst = 0.0;
        var over = 0;
        for (var c = 0; c < chunks; c++)
        {
            double diff = 0, norm = 0;
            for (var i = c * n; i < (c + 1) * n; i++)
            {
                diff += ((double)device[i] - cpu[i]) * ((double)device[i] - cpu[i]);
                norm += (double)cpu[i] * cpu[i];
            }
            var relative = Math.Sqrt(diff / Math.Max(norm, 1e-300));
            worst = Math.Max(worst, relative);
            if (!(relative <= ScoreTolerance)) over++;
        }
        o.WriteLine(Invariant($"| training gradients, {count} random boxes (relative, per chunk) | {arch.Preset} | {chunks} chunks × {n:N0} | {worst:E1} | {over} | {(over == 0 ? "pass" : "FAIL")} |"));
        return over == 0;
    }

    private static void DenseTiming(DeviceBenchSettings s, string preset, int n, double reference, TextWriter o)
    {
        var arch = Presets.Create(preset);
        if (n < arch.BoxSize)
        {
            o.WriteLine($"| {preset} | (the {n}² image is smaller than its {arch.BoxSize} px box) | | | | |");
            return;
        }
        var parameters = WeightInitialization.Create(arch, 1);
        var image = RandomImage(n * n, 3);
        using var backend = BackendFactory.Create(arch, s.Device, s.Gpu);
        using var scorer = backend.CreateDenseScorer(parameters);
        scorer.Score(image, n, n);
        var times = new List<double>();
        for (var r = 0; r < s.Repeats; r++)
        {
            var watch = Stopwatch.StartNew();
            scorer.Score(image, n, n);
            times.Add(watch.Elapsed.TotalMilliseconds);
        }
        var ms = Median(times);
        var gflop = PickingBenchmark.DenseFlops(arch, n) / 1e9;
        var steps = "";
        if (scorer is IlgpuDenseScorer gpu)
        {
            gpu.Profile = true;
            gpu.Score(image, n, n);
            gpu.Profile = false;
            steps = string.Join("; ", gpu.LastSteps.Select(x => Invariant($"{x.Step} {x.Milliseconds:0.00}")));
        }
        var rate = gflop / (ms / 1000);
        o.WriteLine(Invariant($"| {preset} | {ms:0.00} | {gflop:0.0} | {rate:0} | {rate / reference:P1} | {steps} |"));
    }

    private static void Training(DeviceBenchSettings s, NetworkArchitecture arch, TextWriter o)
    {
        var batch = s.TrainingBatch;
        var parameters = WeightInitialization.Create(arch, 1);
        var boxes = RandomImage(batch * arch.BoxSize * arch.BoxSize, 4);
        var targets = Enumerable.Range(0, batch).Select(i => (float)(i % 2)).ToArray();
        var chunks = GradientChunks.Count(batch);
        var gradients = new float[chunks * arch.ParameterCount];
        var losses = new double[chunks];
        double Rate(IComputeBackend backend)
        {
            backend.ChunkGradients(parameters, boxes, targets, batch, LossKind.SquaredError, gradients, losses);
            var times = new List<double>();
            for (var r = 0; r < s.Repeats; r++)
            {
                var watch = Stopwatch.StartNew();
                backend.ChunkGradients(parameters, boxes, targets, batch, LossKind.SquaredError, gradients, losses);
                times.Add(watch.Elapsed.TotalSeconds);
            }
            return batch / Median(times);
        }
        using var device = BackendFactory.Create(arch, s.Device, s.Gpu);
        using var cpu = new ManagedBackend(arch);
        var (onDevice, onCpu) = (Rate(device), Rate(cpu));
        o.WriteLine(Invariant($"Training ({arch.Preset}, {arch.BoxSize} px boxes, forward and backward, batches of {batch} in one pass, gradients per chunk of {GradientChunks.Size}): {onDevice:N0} boxes/s on the device, {onCpu:N0} boxes/s on the managed CPU backend ({Environment.ProcessorCount} cores)."));
    }

    private static bool EndToEnd(DeviceBenchSettings s, TextWriter o)
    {
        var folder = Path.Combine(s.WorkDirectory, "micrographs");
        var outDir = Path.Combine(s.WorkDirectory, "picks");
        var paths = SimulatedFolder(folder, s.MicrographSize, s.Micrographs);
        if (Directory.Exists(outDir)) Directory.Delete(outDir, recursive: true);
        Directory.CreateDirectory(outDir);
        const int boxOriginal = 180;
        var arch = Presets.Create(Presets.Default, boxOriginal / s.Binning);
        var model = new TrainedModel(arch, WeightInitialization.Create(arch, 1),
            new Preprocessing { Binning = s.Binning, BinningMethod = "block-mean", Normalization = "per-micrograph", BoxSizeOriginal = boxOriginal },
            0.5f, 0f, float.MaxValue, new TrainingRecord());
        var formats = new[] { CoordinateFormat.Star, CoordinateFormat.Box };
        var outputs = new PickOutputs(outDir, formats, boxOriginal);
        // The weights are random (this measures throughput, not accuracy): the threshold is put at the 90th percentile of
        // the first micrograph's scores, so that there are picks to find, filter, write and compare.
        var warm = PreparedMicrograph.Load(paths[0], s.Binning);
        var map = new DenseScorer(arch, model.Parameters).Score(warm.Image.Data, warm.Image.Width, warm.Image.Height);
        var sorted = map.Data.OrderBy(v => v).ToArray();
        var options = new PickSettings { Threshold = sorted[(int)(0.9 * (sorted.Length - 1))] };
        using var picker = new MicrographPicker(model, options, s.Device, s.Gpu);
        // Warm-up: kernels compiled, device buffers made for this size.
        var devicePicks = picker.Pick(warm);

        var channel = Channel.CreateBounded<(PreparedMicrograph, double)>(new BoundedChannelOptions(2 * s.ReaderThreads) { SingleReader = true });
        var queue = new ConcurrentQueue<string>(paths);
        double score = 0, peaks = 0, write = 0;
        long picks = 0;
        var readTimes = new ConcurrentBag<double>();
        var wall = Stopwatch.StartNew();
        var readers = Enumerable.Range(0, s.ReaderThreads).Select(_ => Task.Run(async () =>
        {
            while (queue.TryDequeue(out var path))
            {
                var watch = Stopwatch.StartNew();
                var m = PreparedMicrograph.Load(path, s.Binning);
                readTimes.Add(watch.Elapsed.TotalMilliseconds);
                await channel.Writer.WriteAsync((m, watch.Elapsed.TotalMilliseconds));
            }
        })).ToArray();
        _ = Task.WhenAll(readers).ContinueWith(t => channel.Writer.Complete(t.Exception));
        var consumer = Task.Run(async () =>
        {
            await foreach (var (m, _) in channel.Reader.ReadAllAsync())
            {
                var watch = Stopwatch.StartNew();
                var result = picker.Pick(m);
                var picked = watch.Elapsed.TotalMilliseconds;
                score += result.ScoringTime.TotalMilliseconds;
                peaks += picked - result.ScoringTime.TotalMilliseconds;
                watch.Restart();
                outputs.Write(m.Name, result.Picks);
                write += watch.Elapsed.TotalMilliseconds;
                picks += result.Picks.Count;
            }
        });
        consumer.GetAwaiter().GetResult();
        var seconds = wall.Elapsed.TotalSeconds;
        var count = paths.Count;
        var read = readTimes.ToArray();
        o.WriteLine(Invariant($"End to end: {count} simulated {s.MicrographSize}² float32 MRC files ({s.MicrographSize * (double)s.MicrographSize * 4 / 1048576:0.#} MB each, in the page cache), deepem-48 at {arch.BoxSize} px, bin {s.Binning}, .star and .box written; {s.ReaderThreads} reader thread{(s.ReaderThreads == 1 ? "" : "s")}, one device:"));
        o.WriteLine();
        o.WriteLine("| micrographs/s | wall s | read, bin, normalise (ms each, per reader) | score on the device (ms each) | peaks and filter (ms each) | write (ms each) | device thread busy | picks per micrograph |");
        o.WriteLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        o.WriteLine(Invariant($"| {count / seconds:0.0} | {seconds:0.00} | {read.Average():0.0} (median {Median(read):0.0}) | {score / count:0.00} | {peaks / count:0.00} | {write / count:0.00} | {(score + peaks + write) / 1000 / seconds:P0} | {picks / (double)count:0} |"));

        // The device's picks of one micrograph against the CPU's.
        using var cpuPicker = new MicrographPicker(model, options, DeviceChoice.Cpu);
        var cpuPicks = cpuPicker.Pick(warm);
        var same = SamePicks(devicePicks.Picks, cpuPicks.Picks, out var worst) && cpuPicks.Picks.Count > 0;
        o.WriteLine();
        o.WriteLine(Invariant($"Picks of {warm.Name}: device {devicePicks.Picks.Count}, CPU {cpuPicks.Picks.Count}; {(same ? "same coordinates" : cpuPicks.Picks.Count == 0 ? "NO PICKS TO COMPARE" : "COORDINATES DIFFER")}, largest score difference {worst:E1} ({(same && worst <= ScoreTolerance ? "pass" : "FAIL")})."));
        return same && worst <= ScoreTolerance;
    }

    private static bool SamePicks(IReadOnlyList<Pick> a, IReadOnlyList<Pick> b, out double worst)
    {
        worst = 0;
        if (a.Count != b.Count) return false;
        var left = a.OrderBy(p => p.Y).ThenBy(p => p.X).ToList();
        var right = b.OrderBy(p => p.Y).ThenBy(p => p.X).ToList();
        for (var i = 0; i < left.Count; i++)
        {
            if (left[i].X != right[i].X || left[i].Y != right[i].Y) return false;
            worst = Math.Max(worst, Math.Abs((left[i].Score ?? 0) - (right[i].Score ?? 0)));
        }
        return true;
    }

    /// <summary>A few distinct simulated micrographs, copied to <paramref name="count"/> files (reading is what is measured); kept between runs.</summary>
    private static List<string> SimulatedFolder(string folder, int size, int count)
    {
        Directory.CreateDirectory(folder);
        var paths = Enumerable.Range(0, count).Select(i => Path.Combine(folder, $"mic_{i:D4}.mrc")).ToList();
        var distinct = Math.Min(4, count);
        var settings = new SimulationSettings { Size = size, BoxSize = Math.Min(180, size / 2), PixelSizeAngstrom = 1.77 };
        var simulator = new MicrographSimulator(settings);
        Parallel.For(0, distinct, i =>
        {
            if (!File.Exists(paths[i])) MrcWriter.Write(paths[i], simulator.Simulate(21, i).Image, MrcMode.Float32, settings.PixelSizeAngstrom);
        });
        for (var i = distinct; i < count; i++)
        {
            if (!File.Exists(paths[i])) File.Copy(paths[i % distinct], paths[i]);
        }
        return paths;
    }

    private static float[] RandomImage(int length, ulong seed)
    {
        var rng = new DeterministicRandom(seed);
        var image = new float[length];
        for (var i = 0; i < image.Length; i++) image[i] = (float)rng.NextGaussian();
        return image;
    }

    private static double Median(IReadOnlyCollection<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
