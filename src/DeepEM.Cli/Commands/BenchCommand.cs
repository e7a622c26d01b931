using System.CommandLine;
using System.Globalization;
using DeepEM.Cli.Infrastructure;
using DeepEM.Numerics.Backends.Managed;
using DeepEM.Numerics.Benchmarks;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.ModelFile;
using DeepEM.Numerics.ModelFile.Proto;
using DeepEM.Numerics.Training;
using DeepEM.Pipeline.Benchmarks;
using DeepEM.Pipeline.Picking;
using DeepEM.Cli.Workflows;
using DeepEM.Simulation;

namespace DeepEM.Cli.Commands;

/// <summary><c>deepem bench</c>: how fast the managed backend runs each convolution layer, against this machine's peak.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var presets = new Option<string[]>("--preset") { Description = "presets to measure", DefaultValueFactory = _ => [Presets.Default, Presets.PaperKlh], AllowMultipleArgumentsPerToken = true };
        var seconds = new Option<double>("--seconds") { Description = "seconds per measurement", DefaultValueFactory = _ => 1.0 };
        var quick = new Option<bool>("--quick") { Description = "skip paper-klh on a 4096² micrograph (about a minute of scoring)" };
        var parts = new Option<string>("--parts") { Description = "layers,scoring,picking,training (the default); process: whole deepem pick processes (start-up, one micrograph, the marginal one, peak memory); cluster: the coordinator at scale; device: the GPU node check (bench/gpu/run.sh); watch: pick --watch's latency and the cost of watching many files", DefaultValueFactory = _ => "layers,scoring,picking,training" };
        var device = new Option<string>("--device") { Description = "device: the device checked, gpu or ilgpu-cpu (the GPU kernels on ILGPU's CPU accelerator, tiny sizes)", DefaultValueFactory = _ => "gpu" };
        var nodes = new Option<string>("--nodes") { Description = "cluster: worker nodes of each run", DefaultValueFactory = _ => "1,8,32,64" };
        var micrographs = new Option<int>("--micrographs") { Description = "cluster: micrographs of each run's campaign", DefaultValueFactory = _ => 100_000 };
        var journals = new Option<string>("--journal") { Description = "cluster: sqlite, postgresql (a throwaway server of this machine's PostgreSQL), or both", DefaultValueFactory = _ => "sqlite,postgresql" };
        var json = new Option<string?>("--json") { Description = "cluster: write the figures of every run to this file (a JSON array, one object per run)" };
        var demo = new Option<string>("--demo") { Description = "watch: the folder ./deepem demo wrote (its model and micrographs are fed to pick --watch)", DefaultValueFactory = _ => "deepem-demo" };
        var arrivals = new Option<int>("--arrivals") { Description = "watch: micrographs fed into the watched folder", DefaultValueFactory = _ => 40 };
        var perHour = new Option<double>("--per-hour") { Description = "watch: the rate they land at, micrographs an hour", DefaultValueFactory = _ => 1000 };
        var watchedFiles = new Option<int>("--watched-files") { Description = "watch: files in the folder whose listing is measured", DefaultValueFactory = _ => 100_000 };
        var command = new Command("bench", "Speed on this machine: convolution layers against the peak, dense against naive scoring, end-to-end picking, training; the cluster's coordinator at scale.")
        {
            presets, seconds, quick, parts, nodes, micrographs, journals, json, device, demo, arrivals, perHour, watchedFiles,
        };
        command.SetAction(parse => Terminal.Run(() =>
        {
            var selected = parse.GetValue(parts)!.Split(',', StringSplitOptions.TrimEntries);
            var unknown = selected.Where(p => p is not ("layers" or "scoring" or "picking" or "training" or "process" or "cluster" or "device" or "watch")).ToList();
            if (unknown.Count > 0) throw new UsageException($"--parts: unknown part '{unknown[0]}' (layers, scoring, picking, training, process, cluster, device, watch)");
            if (selected.Contains("watch"))
            {
                if (parse.GetValue(arrivals) < 2 || parse.GetValue(perHour) <= 0 || parse.GetValue(watchedFiles) < 1)
                {
                    throw new UsageException("--arrivals must be at least 2, --per-hour and --watched-files positive");
                }
                WatchBench.Run(parse.GetValue(demo)!, parse.GetValue(arrivals), parse.GetValue(perHour), parse.GetValue(watchedFiles), Console.Out);
                if (selected.Length == 1) return ExitCodes.Success;
            }
            if (selected.Contains("device"))
            {
                // The same check as bench/gpu/run.sh, in this program; exit code 1 when the device disagrees with the CPU.
                var passed = DeviceBenchmark.Run(DeviceBenchSettings.For(PickCommand.ParseDevice(parse.GetValue(device)!)), Console.Out);
                if (!passed) return ExitCodes.Fatal;
                if (selected.Length == 1) return ExitCodes.Success;
            }
            if (selected.Contains("cluster"))
            {
                ClusterScaleBench.Run(ClusterScaleBench.ParseNodes(parse.GetValue(nodes)!), parse.GetValue(micrographs), ClusterScaleBench.ParseJournals(parse.GetValue(journals)!),
                    parse.GetValue(json));
                if (selected.Length == 1) return ExitCodes.Success;
            }
            var peak = MachinePeak.Measure();
            Console.Out.WriteLine(peak.ToString());
            // End-to-end picking first: after the 4096² paper-klh scoring the process holds gigabytes of
            // heap, and a run measured after it measures the garbage collector.
            if (selected.Contains("process"))
            {
                Console.Out.WriteLine();
                Console.Out.WriteLine("Whole `deepem pick` processes (embedded cluster, simulated 4096² MRC, deepem-48 at 45 px, bin 4; medians of 3 after one run):");
                PickProcessBench.Print(PickProcessBench.Run(peak), Console.Out);
            }
            if (selected.Contains("layers")) Layers(parse.GetValue(presets)!, parse.GetValue(seconds), peak);
            if (selected.Contains("picking")) Picking();
            if (selected.Contains("training")) Training(parse.GetValue(seconds));
            if (selected.Contains("scoring")) Scoring(parse.GetValue(quick), peak);
            return ExitCodes.Success;
        }));
        return command;
    }

    private static void Layers(string[] presetNames, double seconds, MachinePeak peak)
    {
            Console.Out.WriteLine();
            Console.Out.WriteLine("preset      layer                                   MFLOP/box  forward GFLOP/s  back-data GFLOP/s  back-weights GFLOP/s");
            foreach (var name in presetNames)
            {
                NetworkArchitecture arch;
                try
                {
                    arch = Presets.Create(name);
                }
                catch (ArgumentException e)
                {
                    throw new UsageException(e.Message);
                }
                foreach (var r in LayerBenchmark.Run(arch, seconds))
                {
                    var layer = $"C{2 * r.Stage - 1} {r.Shape.InChannels}->{r.Shape.OutChannels}@{r.Shape.Kernel}x{r.Shape.Kernel} on {r.Shape.InHeight}x{r.Shape.InWidth}";
                    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{name,-11} {layer,-39} {r.FlopsPerBox / 1e6,9:0.00}  {Cell(r.ForwardGFlops, peak),15}  {Cell(r.BackwardDataGFlops, peak),17}  {Cell(r.BackwardWeightsGFlops, peak),20}"));
                }
            }
    }

    private static void Scoring(bool quick, MachinePeak peak)
    {
        Console.Out.WriteLine();
        Console.Out.WriteLine("Scoring every position of a micrograph, four rotations (naive: a sample of positions, scaled to all):");
        Console.Out.WriteLine("preset      micrograph  bin  scored  positions   dense s  dense GFLOP  GFLOP/s (peak)    naive s  naive GFLOP  naive GFLOP/s  dense/naive  peak memory");
        var rows = new List<(string preset, int size, int bin, int sample)>
        {
            (Presets.Default, 1024, 4, 4096), (Presets.Default, 4096, 4, 4096),
            (Presets.PaperKlh, 1024, 1, 8),
        };
        if (!quick) rows.Add((Presets.PaperKlh, 4096, 1, 8));
        foreach (var (preset, size, bin, sample) in rows)
        {
            var r = PickingBenchmark.Measure(preset, size, bin, sample);
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Preset,-11} {r.MicrographSize,5}²      {r.Binning,3}  {r.ScoredSize,5}²  {r.Positions,9}  {r.DenseSeconds,8:0.000}  {r.DenseGflop,11:0.0}  {r.DenseGflops,6:0.0} ({r.DenseGflops / peak.GFlops,4:P0})  {r.NaiveSeconds,9:0.0}  {r.NaiveGflop,11:0}  {r.NaiveGflops,13:0.0}  {r.Speedup,10:0}×  {r.PeakWorkingSetBytes / 1048576.0,8:0} MB"));
        }
    }

    /// <summary>End to end: read, bin, normalise, score, peaks, write, over simulated 4096² micrographs.</summary>
    private static void Picking()
    {
        Console.Out.WriteLine();
        var temp = Path.Combine(Path.GetTempPath(), "deepem-bench-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            const int count = 4;
            var settings = new SimulationSettings { Size = 4096, BoxSize = 180, PixelSizeAngstrom = 1.77 };
            var data = SimulatedDataset.Write(Path.Combine(temp, "data"), settings, count, seed: 7);
            var arch = Presets.Create(Presets.Default, 45);
            var model = new TrainedModel(arch, WeightInitialization.Create(arch, 1),
                new Preprocessing { Binning = 4, BinningMethod = "block-mean", Normalization = "per-micrograph", BoxSizeOriginal = 180 },
                0.5f, 0f, float.MaxValue, new TrainingRecord());
            var times = new List<double>();
            var summary = PickingWorkflow.Run(model, data.Micrographs, Path.Combine(temp, "picks"), new PickSettings(), PickSettings.DefaultFormats, Numerics.Backends.DeviceChoice.Auto, null, r => times.Add(r.ScoringTime.TotalSeconds));
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"End-to-end picking (read MRC, bin 4, normalise, score every position in 4 rotations, peaks, write) of {count} simulated 4096² micrographs, deepem-48 at 45 px:"));
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {summary.Elapsed.TotalSeconds:0.00} s in all, {summary.Elapsed.TotalSeconds / count:0.00} s per micrograph ({count / summary.Elapsed.TotalSeconds:0.00} micrographs/s, {3600 * count / summary.Elapsed.TotalSeconds:0} per hour); scoring {string.Join(", ", times.Select(t => t.ToString("0.00", CultureInfo.InvariantCulture)))} s"));
        }
        finally
        {
            try { Directory.Delete(temp, true); } catch (IOException) { }
        }
    }

    private static void Training(double seconds)
    {
        Console.Out.WriteLine();
        Console.Out.WriteLine("Training throughput (forward and backward, batches of 32, managed backend):");
        foreach (var preset in new[] { Presets.Default, Presets.PaperKlh })
        {
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {preset,-11} box {Presets.NativeBoxSize(preset),3}: {PickingBenchmark.TrainingBoxesPerSecond(preset, seconds),8:0.0} boxes/s"));
        }
    }

    private static string Cell(double gflops, MachinePeak peak) =>
        double.IsNaN(gflops) ? "(not needed)" : string.Create(CultureInfo.InvariantCulture, $"{gflops:0.0} ({gflops / peak.GFlops:P0})");
}
