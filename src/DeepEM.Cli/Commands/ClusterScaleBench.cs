using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DeepEM.Cli.Infrastructure;
using DeepEM.Cluster.Benchmarks;

namespace DeepEM.Cli.Commands;

/// <summary>
/// <c>deepem bench --parts cluster</c>: the campaign coordinator at scale (<see cref="ScaleBenchmark"/>), for each journal and
/// each number of worker nodes, as a table and, with <c>--json FILE</c>, one object per run.
/// </summary>
public static class ClusterScaleBench
{
    public static IReadOnlyList<int> ParseNodes(string text)
    {
        var nodes = new List<int>();
        foreach (var word in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(word, CultureInfo.InvariantCulture, out var n) || n is < 1 or > 256) throw new UsageException($"--nodes {text}: numbers of nodes from 1 to 256");
            nodes.Add(n);
        }
        return nodes.Count > 0 ? nodes : throw new UsageException("--nodes: at least one number of nodes");
    }

    public static IReadOnlyList<string> ParseJournals(string text)
    {
        var journals = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct().ToList();
        if (journals.Count == 0 || journals.Any(j => j is not ("sqlite" or "postgresql"))) throw new UsageException($"--journal {text}: sqlite, postgresql or both");
        return journals;
    }

    public static void Run(IReadOnlyList<int> nodes, int micrographs, IReadOnlyList<string> journals, string? json)
    {
        if (micrographs < 20) throw new UsageException($"--micrographs {micrographs}: at least 20");
        if (journals.Contains("postgresql") && LocalPostgres.FindBinaries() is null)
        {
            throw new UsageException("--journal postgresql: PostgreSQL is not installed on this machine (Debian: apt-get install postgresql); use --journal sqlite");
        }
        var benchmark = new ScaleBenchmark(new ScaleBenchmark.Settings(Self, line => Console.Error.WriteLine($"bench: {line}"))
        {
            Keep = Environment.GetEnvironmentVariable("DEEPEM_BENCH_KEEP") == "1",
        });
        var runs = new List<ScaleRun>();
        Console.Out.WriteLine($"The campaign coordinator at scale: one coordinator process, N worker nodes in this process on 127.0.0.1 (picks ready-made, files written), {micrographs:N0} micrographs a campaign:");
        Console.Out.WriteLine("journal      nodes  micrographs/s  coord. CPU ms/mic  actor ms/mic  journal B/mic  snapshots (MB)  submit s  recovery s  restart s  peak MB (heap)  join s  leave: nodes, redone s (mics)  exactly once");
        foreach (var journal in journals)
        {
            using var postgres = journal == "postgresql" ? LocalPostgres.Start() : null;
            foreach (var n in nodes)
            {
                var r = benchmark.RunAsync(n, micrographs, postgres).GetAwaiter().GetResult();
                runs.Add(r);
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{r.Journal,-11} {r.Nodes,6}  {r.MicrographsPerSecond,13:0}  {r.CoordinatorCpuMsPerMicrograph,17:0.000}  {r.CoordinatorActorMsPerMicrograph,12:0.000}  {r.JournalBytesPerMicrograph,13:0.0}  {r.Snapshots,4} ({r.SnapshotBytes / 1e6,6:0.00})  {r.SubmitSeconds,8:0.00}  {r.RecoverySeconds,10:0.000}  {r.RestartSeconds,9:0.0}  {r.CoordinatorPeakMb,7:0} ({r.CoordinatorHeapMb,4:0})  {r.JoinSeconds,6:0.0}  {r.LeavingNodes,5}, {r.LeaveRedoneSeconds,6:0.0} ({r.LeaveRedoneMicrographs,4})  {(r.ExactlyOnce ? "yes" : "NO")}"));
                Console.Out.Flush();
                if (json is not null) Write(json, runs);
            }
        }
        if (runs.Any(r => !r.ExactlyOnce)) throw new InvalidOperationException("a run did not record every micrograph exactly once (see above)");
    }

    private static void Write(string path, IReadOnlyList<ScaleRun> runs)
    {
        static object Number(double v) => double.IsFinite(v) ? Math.Round(v, 4) : null!;
        var objects = runs.Select(r => new Dictionary<string, object?>
        {
            ["journal"] = r.Journal,
            ["nodes"] = r.Nodes,
            ["micrographs"] = r.Micrographs,
            ["micrographs_per_second"] = Number(r.MicrographsPerSecond),
            ["coordinator_cpu_ms_per_micrograph"] = Number(r.CoordinatorCpuMsPerMicrograph),
            ["coordinator_actor_ms_per_micrograph"] = Number(r.CoordinatorActorMsPerMicrograph),
            ["journal_bytes_per_micrograph"] = Number(r.JournalBytesPerMicrograph),
            ["journal_rows"] = r.JournalRows,
            ["snapshots"] = r.Snapshots,
            ["snapshot_bytes"] = r.SnapshotBytes,
            ["submit_seconds"] = Number(r.SubmitSeconds),
            ["campaign_seconds"] = Number(r.CampaignSeconds),
            ["recovery_seconds"] = Number(r.RecoverySeconds),
            ["restart_seconds"] = Number(r.RestartSeconds),
            ["coordinator_supervisor_restarts"] = r.SupervisorRestarts,
            ["coordinator_peak_mb"] = Number(r.CoordinatorPeakMb),
            ["coordinator_heap_mb"] = Number(r.CoordinatorHeapMb),
            ["join_seconds"] = Number(r.JoinSeconds),
            ["leaving_nodes"] = r.LeavingNodes,
            ["leave_redone_seconds"] = Number(r.LeaveRedoneSeconds),
            ["leave_redone_micrographs"] = r.LeaveRedoneMicrographs,
            ["exactly_once"] = r.ExactlyOnce,
        });
        Formats.IO.AtomicFile.WriteAllText(path, JsonSerializer.Serialize(objects, new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>This program with other arguments: <c>dotnet deepem.dll ARGS</c>, or the published executable.</summary>
    internal static ProcessStartInfo Self(IReadOnlyList<string> args)
    {
        var host = Environment.ProcessPath ?? "dotnet";
        var start = new ProcessStartInfo(host);
        // The coordinator runs as the launcher, the Dockerfile and the systemd unit run a node (their GC budget).
        start.Environment["DOTNET_GCgen0size"] = Environment.GetEnvironmentVariable("DOTNET_GCgen0size") ?? "0x2000000";
        if (Path.GetFileNameWithoutExtension(host) == "dotnet") start.ArgumentList.Add(Environment.GetCommandLineArgs()[0]);
        foreach (var a in args) start.ArgumentList.Add(a);
        return start;
    }
}
