using System.Diagnostics;
using System.Globalization;
using DeepEM.Cli.Infrastructure;
using DeepEM.Cli.Workflows;
using DeepEM.Cluster.Models;
using DeepEM.Formats;
using DeepEM.Numerics.Backends;
using DeepEM.Pipeline.Arrivals;
using DeepEM.Pipeline.Picking;

namespace DeepEM.Cli.Commands;

/// <summary>
/// <c>deepem bench --parts watch</c>: what <c>pick --watch</c> costs. The latency from a micrograph completely written to
/// its picks written, at a facility's rate (the demo's model and 1024² simulated micrographs, fed into a watched folder
/// on the embedded one-node cluster, half renamed into place as motion correction writes, half copied in place and so
/// found complete by the settle time); and the CPU a watched folder of 100,000 micrographs costs (the listings).
/// </summary>
internal static class WatchBench
{
    public static void Run(string demoDir, int count, double perHour, int listedFiles, TextWriter output)
    {
        Listing(listedFiles, output);
        Latency(demoDir, count, perHour, output);
    }

    /// <summary>The safety net's cost: one listing of a folder of <paramref name="files"/> micrographs that have all arrived.</summary>
    private static void Listing(int files, TextWriter output)
    {
        var folder = Path.Combine(Path.GetTempPath(), $"deepem-watch-bench-{Environment.ProcessId}");
        Directory.CreateDirectory(folder);
        try
        {
            var paths = Enumerable.Range(0, files).Select(i => Path.Combine(folder, $"FoilHole_{i:D6}.mrc")).ToList();
            foreach (var path in paths) File.Create(path).Dispose();
            // A campaign of that many micrographs, all arrived (picked or in hand): a listing reads the names only.
            using var arrivals = new FolderArrivals([new WatchedPlace(folder, "*")], MicrographReader.IsMicrographFile,
                new ArrivalPlanner(TimeSpan.FromSeconds(3), paths), TimeSpan.Zero);
            arrivals.Poll();
            const int rounds = 10;
            var process = Process.GetCurrentProcess();
            var cpu = process.TotalProcessorTime;
            var wall = Stopwatch.StartNew();
            for (var i = 0; i < rounds; i++) arrivals.Poll();
            process.Refresh();
            var cpuPerListing = (process.TotalProcessorTime - cpu).TotalMilliseconds / rounds;
            var wallPerListing = wall.Elapsed.TotalMilliseconds / rounds;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"watching {files:N0} micrographs: one listing {wallPerListing:0.0} ms ({cpuPerListing:0.0} ms CPU); at --rescan 30 s (the default) {100 * cpuPerListing / 30_000:0.000}% of a core, at --rescan 5 s {100 * cpuPerListing / 5_000:0.000}%"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static void Latency(string demoDir, int count, double perHour, TextWriter output)
    {
        var modelPath = Path.Combine(demoDir, "model.deepem");
        var sources = Directory.Exists(Path.Combine(demoDir, "data", "micrographs"))
            ? Directory.GetFiles(Path.Combine(demoDir, "data", "micrographs"), "*.mrc").Order(StringComparer.Ordinal).ToList()
            : [];
        if (!File.Exists(modelPath) || sources.Count == 0)
        {
            throw new UsageException($"{demoDir}: the watch benchmark feeds the demo's micrographs to the demo's model; run ./deepem demo --out {demoDir} first");
        }
        var (model, _) = ParsedModels.Load(modelPath);
        var work = Path.Combine(Path.GetTempPath(), $"deepem-watch-latency-{Environment.ProcessId}");
        var incoming = Directory.CreateDirectory(Path.Combine(work, "incoming")).FullName;
        var outDir = Path.Combine(work, "picks");
        try
        {
            var interval = TimeSpan.FromHours(1 / perHour);
            var settle = TimeSpan.FromSeconds(3);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"latency: {count} micrographs of {demoDir}/data (1024², the demo's model) landing at {perHour:0} an hour (one every {interval.TotalSeconds:0.0} s), --settle {settle.TotalSeconds:0} s, embedded one-node cluster, CPU"));
            using var stop = new CancellationTokenSource();
            var watch = WatchedCampaign.RunAsync(modelPath, model, [], new WatchOptions([new WatchedPlace(incoming, "*")], settle, TimeSpan.FromSeconds(30), null),
                outDir, new PickSettings(), PickSettings.DefaultFormats, DeviceChoice.Cpu, relionLayout: false, client: null, verbose: false, TextWriter.Null,
                e => output.WriteLine($"  {e}"), stop.Token);
            var complete = new DateTime[count];
            var renamed = new bool[count];
            var clock = Stopwatch.StartNew();
            var process = Process.GetCurrentProcess();
            var cpu = process.TotalProcessorTime;
            for (var i = 0; i < count; i++)
            {
                var due = interval * i;
                if (clock.Elapsed < due) Thread.Sleep(due - clock.Elapsed);
                var target = Path.Combine(incoming, $"w{i:D4}.mrc");
                renamed[i] = i % 2 == 0;
                if (renamed[i])
                {
                    var partial = Path.Combine(incoming, $".w{i:D4}.mrc.partial");
                    File.Copy(sources[i % sources.Count], partial);
                    File.Move(partial, target);
                }
                else
                {
                    File.Copy(sources[i % sources.Count], target);
                }
                // Not the file's modification time: a copy keeps the source's.
                complete[i] = DateTime.UtcNow;
            }
            var latency = new double[count];
            for (var i = 0; i < count; i++)
            {
                var star = Path.Combine(outDir, $"w{i:D4}.star");
                while (!File.Exists(star))
                {
                    if (watch.IsCompleted) watch.GetAwaiter().GetResult();
                    Thread.Sleep(20);
                }
                latency[i] = (File.GetLastWriteTimeUtc(star) - complete[i]).TotalSeconds;
            }
            process.Refresh();
            var cpuShare = (process.TotalProcessorTime - cpu).TotalSeconds / clock.Elapsed.TotalSeconds;
            stop.Cancel();
            var result = watch.GetAwaiter().GetResult();
            string Figures(IEnumerable<double> values)
            {
                var (median, p95, most) = LatencyFigures.Of(values);
                return string.Create(CultureInfo.InvariantCulture, $"median {median:0.00} s, 95th percentile {p95:0.00} s, most {most:0.00} s");
            }
            output.WriteLine($"  from the file's last write to its .star written: {Figures(latency)} ({count} micrographs)");
            output.WriteLine($"    renamed into place: {Figures(latency.Where((_, i) => renamed[i]))}");
            output.WriteLine($"    copied in place (complete after the settle time): {Figures(latency.Where((_, i) => !renamed[i]))}");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  the campaign's own figures (campaign.json, deepem_pick_latency_seconds): median {result.Final.LatencyMedianSeconds:0.00} s, 95th percentile {result.Final.LatencyP95Seconds:0.00} s; {result.Picking.Picked} picked, {result.Picking.FailedCount} failed"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  this process used {cpuShare:0.00} cores on average while the micrographs landed (picking, the cluster and the watch; the machine has {Environment.ProcessorCount})"));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
