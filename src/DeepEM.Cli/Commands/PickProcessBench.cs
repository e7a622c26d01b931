using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using DeepEM.Cli.Workflows;
using DeepEM.Numerics.Benchmarks;
using DeepEM.Numerics.ModelFile;
using DeepEM.Numerics.ModelFile.Proto;
using DeepEM.Numerics.Training;
using DeepEM.Numerics.Network;
using DeepEM.Pipeline.Benchmarks;
using DeepEM.Simulation;

namespace DeepEM.Cli.Commands;

/// <summary>
/// <c>deepem bench --parts process</c>: whole <c>deepem pick</c> processes on the embedded one-node cluster, as a user
/// runs them: start-up and exit (a micrograph too small to score), one 4096² micrograph, several (so the marginal
/// micrograph is the difference), and the peak resident memory each reports, against the floor of dense scoring at
/// this machine's measured peak.
/// </summary>
public static partial class PickProcessBench
{
    public sealed record Figures(double StartupSeconds, double OneSeconds, double ManySeconds, int Many, long PeakBytes, double FloorSeconds, double ProductsFloorSeconds)
    {
        public double MarginalSeconds => (ManySeconds - OneSeconds) / (Many - 1);
    }

    public static Figures Run(MachinePeak peak, int many = 6, int repeats = 3)
    {
        var temp = Path.Combine(Path.GetTempPath(), "deepem-bench-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var settings = new SimulationSettings { Size = 4096, BoxSize = 180, PixelSizeAngstrom = 1.77 };
            var data = SimulatedDataset.Write(Path.Combine(temp, "data"), settings, many, seed: 11);
            var tiny = SimulatedDataset.Write(Path.Combine(temp, "tiny"), settings with { Size = 128, BoxSize = 32 }, 1, seed: 12);
            var arch = Presets.Create(Presets.Default, 45);
            var model = new TrainedModel(arch, WeightInitialization.Create(arch, 1),
                new Preprocessing { Binning = 4, BinningMethod = "block-mean", Normalization = "per-micrograph", BoxSizeOriginal = 180 },
                0.5f, 0f, float.MaxValue, new TrainingRecord());
            var modelPath = Path.Combine(temp, "model.deepem");
            File.WriteAllBytes(modelPath, model.ToBytes());

            var run = 0;
            (double Seconds, long PeakBytes) Pick(IReadOnlyList<string> micrographs)
            {
                var times = new List<double>();
                long peakBytes = 0;
                // One run not counted (the files into the page cache, the program into the disk cache), then the median.
                for (var i = 0; i <= repeats; i++)
                {
                    var (seconds, bytes) = PickOnce(modelPath, micrographs, Path.Combine(temp, $"out{run++}"));
                    if (i == 0) continue;
                    times.Add(seconds);
                    peakBytes = Math.Max(peakBytes, bytes);
                }
                times.Sort();
                return (times[times.Count / 2], peakBytes);
            }

            var startup = Pick(tiny.Micrographs);
            var one = Pick(data.Micrographs.Take(1).ToList());
            var all = Pick(data.Micrographs);
            var floor = PickingBenchmark.DenseFlops(arch, settings.Size / 4) / 1e9 / peak.GFlops;
            var products = PickingBenchmark.DenseFlops(arch, settings.Size / 4, winograd: true) / 1e9 / peak.GFlops;
            return new Figures(startup.Seconds, one.Seconds, all.Seconds, many, Math.Max(one.PeakBytes, all.PeakBytes), floor, products);
        }
        finally
        {
            try { Directory.Delete(temp, true); } catch (IOException) { }
        }
    }

    private static (double Seconds, long PeakBytes) PickOnce(string model, IReadOnlyList<string> micrographs, string outDir)
    {
        var start = ClusterScaleBench.Self(["pick", "--model", model, "--micrographs", .. micrographs, "--out", outDir]);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start deepem pick");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var seconds = watch.Elapsed.TotalSeconds;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"deepem pick exited with {process.ExitCode}: {stderr.Result.Trim()}");
        }
        var peak = PeakLine().Match(stdout);
        return (seconds, peak.Success ? long.Parse(peak.Groups[1].Value, CultureInfo.InvariantCulture) * 1_000_000 : 0);
    }

    [GeneratedRegex(@"peak memory (\d+) MB")]
    private static partial Regex PeakLine();

    public static void Print(Figures f, TextWriter output)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"""
              start-up and exit (a micrograph too small to score):  {f.StartupSeconds,6:0.00} s
              one 4096² micrograph, end to end:                     {f.OneSeconds,6:0.00} s
              {f.Many,2} micrographs, end to end:                         {f.ManySeconds,6:0.00} s
              the marginal micrograph:                              {f.MarginalSeconds,6:0.000} s  (floor at the measured peak: {f.FloorSeconds:0.000} s of direct dense scoring, {f.MarginalSeconds / f.FloorSeconds:0.0}x it; {f.ProductsFloorSeconds:0.000} s of the products the Winograd layers leave, {f.MarginalSeconds / f.ProductsFloorSeconds:0.0}x)
              peak resident memory:                                 {f.PeakBytes / 1e6,6:0} MB
            """));
    }
}
