using System.Collections.Concurrent;
using System.Diagnostics;
using DeepEM.TestSupport;

namespace DeepEM.Cli.Tests;

/// <summary>
/// The cluster as users run it: separate <c>deepem node</c> processes on loopback, a campaign submitted with
/// <c>deepem pick --join</c>, a worker killed with SIGKILL halfway, the coordinator killed and restarted.
/// </summary>
[CollectionDefinition("cluster processes", DisableParallelization = true)]
public sealed class ClusterProcessCollection : ICollectionFixture<ClusterTestLock>;

/// <remarks>
/// Runs alone within this project (its own collection, parallelisation off): five processes on two cores must not
/// also compete with the other tests, or heartbeats are late and failure detection misfires. The in-process clusters
/// of DeepEM.Cluster.Tests may run beside it, unless <see cref="ClusterTestLock"/> is switched on.
/// </remarks>
[Collection("cluster processes")]
public sealed class ClusterProcessTests
{
    /// <summary>
    /// Failure detection and the split-brain resolver in seconds rather than tens of seconds, with room for heartbeats
    /// that come late on a machine doing other work: at 6 s, with these five processes beside the in-process clusters and
    /// a CPU-heavy process on 2 cores, a live restarted coordinator was judged unreachable and downed.
    /// </summary>
    private const string FastFailureDetection = """
        akka.cluster.split-brain-resolver.stable-after = 5s
        akka.cluster.failure-detector.heartbeat-interval = 500ms
        akka.cluster.failure-detector.acceptable-heartbeat-pause = 12s
        akka.cluster.unreachable-nodes-reaper-interval = 500ms
        deepem.cluster.resend-unacknowledged-after = 2s
        deepem.cluster.training.step-timeout = 5s
        """;

    /// <summary>
    /// A coordinator process and three worker processes on loopback, with <see cref="FastFailureDetection"/>, started the
    /// way README's "Running a cluster by hand" starts them: the coordinator with no seed nodes (it forms the cluster), the
    /// workers seeded with it. <paramref name="coordinatorPicks"/>: the coordinator node takes both roles, as README's does.
    /// </summary>
    private sealed class LoopbackCluster(TempFolder temp, bool coordinatorPicks) : IDisposable
    {
        /// <summary>The coordinator's port: any free one at the first start (0), read back, and the same one after a restart.</summary>
        public int SeedPort { get; private set; }

        public string Config { get; } = WriteConfig(temp);

        public string Seed => $"127.0.0.1:{SeedPort}";

        public string CoordinatorLog => temp.File("coordinator.log");

        public string StateDir => temp.File("state");

        public RunningDeepem? Coordinator { get; private set; }

        public List<RunningDeepem> Workers { get; } = [];

        private static string WriteConfig(TempFolder temp)
        {
            File.WriteAllText(temp.File("fast.conf"), FastFailureDetection);
            return temp.File("fast.conf");
        }

        /// <summary>Starts (or restarts) the coordinator, always with the same command line.</summary>
        public async Task StartCoordinator()
        {
            Coordinator?.Dispose();
            string[] roles = coordinatorPicks ? ["--device", "cpu"] : ["--roles", "coordinator"];
            Coordinator = new RunningDeepem(["node", .. roles, "--port", $"{SeedPort}", "--state", StateDir, "--config", Config, "--log", CoordinatorLog]);
            await Coordinator.Up();
            SeedPort = Coordinator.Port;
        }

        public async Task Start()
        {
            await StartCoordinator();
            for (var i = 1; i <= 3; i++)
            {
                Workers.Add(new RunningDeepem("node", "--roles", "worker", "--port", "0", "--seed-nodes", Seed, "--device", "cpu",
                    "--config", Config, "--log", temp.File($"worker{i}.log")));
            }
            foreach (var w in Workers) await w.Up();
        }

        public void Dispose()
        {
            foreach (var w in Workers) w.Dispose();
            Coordinator?.Dispose();
        }
    }

    private static string Tail(string path) =>
        File.Exists(path) ? string.Join('\n', File.ReadLines(path).Where(l => !l.Contains("SingletonProxy failed")).TakeLast(40)) : "(none)";

    /// <summary>Waits until a node's log holds a line with <paramref name="text"/>.</summary>
    private static async Task WaitForLine(string log, string text, TimeSpan within)
    {
        var watch = Stopwatch.StartNew();
        while (!(File.Exists(log) && ReadShared(log).Contains(text, StringComparison.Ordinal)))
        {
            if (watch.Elapsed > within) Assert.Fail($"no line with '{text}' in {log} within {within.TotalSeconds:0} s:\n{Tail(log)}");
            await Task.Delay(100);
        }
    }

    /// <summary>The text of a file another process is writing.</summary>
    private static string ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }


    [Fact]
    public async Task Campaign_survives_a_killed_worker_and_a_coordinator_killed_and_restarted_in_the_middle()
    {
        using var temp = TestPaths.NewTemp();
        DeepemProcess.Ok("simulate", "--out", temp.File("train"), "--count", "4", "--size", "768", "--box", "48", "--seed", "41");
        DeepemProcess.Ok("simulate", "--out", temp.File("test"), "--count", "60", "--size", "512", "--box", "48", "--seed", "42");
        DeepemProcess.Ok("train", "--micrographs", temp.File("train/micrographs"), "--coords", temp.File("train/truth"), "--box", "48", "--out", temp.File("model.deepem"), "--epochs", "3");
        var micrographs = temp.File("test/micrographs");
        // The one-process run to compare with.
        DeepemProcess.Ok("pick", "--model", temp.File("model.deepem"), "--micrographs", micrographs, "--out", temp.File("reference"), "--device", "cpu");

        using var cluster = new LoopbackCluster(temp, coordinatorPicks: true);
        var workers = cluster.Workers;
        await cluster.Start();

        // Submit and follow the progress lines. Worker 2 gets SIGKILL when 12 micrographs are done; the coordinator node gets
        // SIGKILL at 24, once it has seen worker 2 go, and is started again with the very same command line.
        var pick = new RunningDeepem("pick", "--join", cluster.Seed, "--config", cluster.Config, "--model", temp.File("model.deepem"), "--micrographs", micrographs, "--out", temp.File("picks"));
        int workerKilledAt = -1, coordinatorKilledAt = -1;
        var supervisorRestarts = new List<int>();
        var coordinatorLines = 0;
        var watch = Stopwatch.StartNew();
        while (!pick.Process.HasExited && watch.Elapsed < TimeSpan.FromMinutes(5))
        {
            var progress = pick.Output.Split('\n').Count(l => l.Contains(" particles ("));
            if (workerKilledAt < 0 && progress >= 12)
            {
                workers[1].Process.Kill(); // SIGKILL: no goodbye to the cluster
                workerKilledAt = progress;
            }
            if (workerKilledAt >= 0 && coordinatorKilledAt < 0 && progress >= 24 && File.ReadAllText(cluster.CoordinatorLog).Contains("was removed"))
            {
                cluster.Coordinator!.Process.Kill();
                await cluster.Coordinator.Process.WaitForExitAsync();
                coordinatorKilledAt = progress;
                coordinatorLines = File.ReadAllLines(cluster.CoordinatorLog).Length;
                await cluster.StartCoordinator();
            }
            if (coordinatorKilledAt >= 0 && cluster.Coordinator!.Process.HasExited)
            {
                // The coordinator stopped on its own: the split-brain resolver downed it (under load, the restarted
                // incarnation and the pick client can each mark the other unreachable, and the resolver downs both).
                // Started again, as deploy/systemd's Restart=on-failure would; it finds the workers from its record.
                supervisorRestarts.Add(cluster.Coordinator.Process.ExitCode);
                await cluster.StartCoordinator();
            }
            await Task.Delay(100);
        }
        var restarted = coordinatorLines > 0 ? string.Join('\n', File.ReadAllLines(cluster.CoordinatorLog).Skip(coordinatorLines)) : "";
        if (pick.Process.HasExited)
        {
            // WaitForExit() without a timeout also waits until the last lines of the redirected output were read.
            pick.Process.WaitForExit();
        }
        else
        {
            Assert.Fail($"the campaign did not finish in 5 minutes (worker killed at {workerKilledAt}, coordinator at {coordinatorKilledAt}, " +
                $"restarted after it stopped on its own with {string.Join(", ", supervisorRestarts)}).\npick:\n{pick.Output}\n" +
                $"coordinator log:\n{Tail(cluster.CoordinatorLog)}\nworker 1 log:\n{Tail(temp.File("worker1.log"))}");
        }
        Assert.True(pick.Process.ExitCode == 0, $"{pick.Output}\ncoordinator log:\n{Tail(cluster.CoordinatorLog)}");
        Assert.InRange(workerKilledAt, 12, 59);
        Assert.True(coordinatorKilledAt is >= 24 and < 60, $"the coordinator was killed at {coordinatorKilledAt}:\n{pick.Output}");
        Assert.True(pick.Output.Contains("picked 60 micrographs"), $"{pick.Output}\ncoordinator log:\n{Tail(cluster.CoordinatorLog)}");
        // The restarted coordinator asked the members it had seen and joined their cluster rather than founding its own.
        Assert.Contains("members seen before", restarted);
        Assert.DoesNotContain("forming a new cluster", restarted);
        Assert.Contains("campaign coordinator recovered 1 campaigns (1 open", restarted);
        var onNodes = pick.Output.Split('\n').Where(l => l.Contains(" particles (")).Select(l => l[(l.LastIndexOf(" on ") + 4)..]).Distinct().ToList();
        Assert.True(onNodes.Count == 4, $"picked on {string.Join(", ", onNodes)}");

        // Exactly one output per micrograph, the same coordinates and scores as the one-process run.
        var names = Directory.GetFiles(micrographs, "*.mrc").Select(f => Path.GetFileNameWithoutExtension(f)).Order().ToList();
        var stars = Directory.GetFiles(temp.File("picks"), "*.star").Select(f => Path.GetFileNameWithoutExtension(f)).Where(n => n != "autopick").Order().ToList();
        Assert.Equal(names, stars);
        foreach (var name in names)
        {
            Assert.Equal(File.ReadAllText(temp.File($"reference/{name}.star")), File.ReadAllText(temp.File($"picks/{name}.star")));
            Assert.Equal(File.ReadAllText(temp.File($"reference/{name}.box")), File.ReadAllText(temp.File($"picks/{name}.box")));
        }
        Assert.Empty(Directory.GetFiles(temp.File("picks"), "*.tmp"));
        Assert.Equal(60, DeepEM.Formats.Coordinates.AutopickIndex.Read(temp.File("picks/autopick.star")).Count);
        // And the journal recorded every micrograph as picked exactly once, across both coordinator incarnations.
        using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(cluster.StateDir, "journal.db")};Mode=ReadOnly"))
        {
            db.Open();
            var audit = Assert.Single(DeepEM.Cluster.Benchmarks.JournalAudit.Read(db).Campaigns).Value;
            Assert.True(audit.ExactlyOnce, audit.ToString());
            Assert.Equal(60, audit.Micrographs);
        }

        var status = DeepemProcess.Run("status", "--join", $"127.0.0.1:{workers[2].Port}", "--config", cluster.Config);
        Assert.True(status.ExitCode == 0, status.Stderr + status.Stdout);
        Assert.Contains("complete", status.Stdout);
        Assert.Contains("60 micrographs: 60 picked, 0 already there, 0 failed, 0 in flight, 0 pending", status.Stdout);

        // SIGTERM: a worker leaves the cluster gracefully and exits 0.
        Process.Start("kill", ["-TERM", $"{workers[0].Process.Id}"])!.WaitForExit();
        await workers[0].Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        workers[0].Process.WaitForExit(); // and its last lines read
        Assert.True(workers[0].Process.ExitCode == 0, workers[0].Output);
        Assert.Contains("left the cluster", workers[0].Output);
    }

    [Fact]
    public async Task A_second_node_on_a_port_that_is_taken_fails_in_one_line()
    {
        using var temp = TestPaths.NewTemp();
        using var cluster = new LoopbackCluster(temp, coordinatorPicks: false);
        await cluster.StartCoordinator();
        var second = DeepemProcess.Run("node", "--roles", "worker", "--port", $"{cluster.SeedPort}", "--seed-nodes", cluster.Seed, "--config", cluster.Config);
        Assert.Equal(1, second.ExitCode);
        var line = Assert.Single(second.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal($"deepem: error: port {cluster.SeedPort} on 127.0.0.1 is in use by another process (another node?): choose another --port", line);
        Assert.DoesNotContain("is up", second.Stdout);
        Assert.False(cluster.Coordinator!.Process.HasExited);
    }

    [Fact]
    public async Task Training_survives_a_killed_worker_and_matches_the_one_process_run()
    {
        using var temp = TestPaths.NewTemp();
        DeepemProcess.Ok("simulate", "--out", temp.File("train"), "--count", "4", "--size", "768", "--box", "48", "--seed", "43");
        string[] Train(string output) =>
            ["train", "--micrographs", temp.File("train/micrographs"), "--coords", temp.File("train/truth"), "--box", "48", "--epochs", "4", "--batch", "48",
                "--out", temp.File(output)];
        // The one-process run to compare with (the embedded default: the same actors in this process).
        var alone = DeepemProcess.Run(Train("alone/model.deepem"));
        Assert.True(alone.ExitCode == 0, alone.Stderr + alone.Stdout);

        using var cluster = new LoopbackCluster(temp, coordinatorPicks: false);
        var workers = cluster.Workers;
        await cluster.Start();
        // Every gradient worker has registered with the training coordinator (its log says how many it knows).
        await WaitForLine(cluster.CoordinatorLog, "joined: 3 workers", TimeSpan.FromMinutes(1));

        // Three workers train; worker 2 gets SIGKILL when the first epoch is reported.
        var train = new RunningDeepem([.. Train("cluster/model.deepem"), "--join", cluster.Seed, "--config", cluster.Config]);
        var killed = false;
        var watch = Stopwatch.StartNew();
        while (!train.Process.HasExited && watch.Elapsed < TimeSpan.FromMinutes(4))
        {
            if (!killed && train.Output.Contains("epoch   1/4"))
            {
                workers[1].Process.Kill();
                killed = true;
            }
            await Task.Delay(50);
        }
        if (!train.Process.HasExited) Assert.Fail($"training did not finish in 4 minutes:\n{train.Output}\ncoordinator log:\n{Tail(cluster.CoordinatorLog)}");
        train.Process.WaitForExit();
        Assert.True(train.Process.ExitCode == 0, $"{train.Output}\ncoordinator log:\n{Tail(cluster.CoordinatorLog)}");
        Assert.True(killed, train.Output);
        Assert.Contains("epoch   4/4", train.Output);
        Assert.Contains("on 3 gradient workers", train.Output);

        var reference = Numerics.ModelFile.TrainedModel.Load(temp.File("alone/model.deepem"));
        var model = Numerics.ModelFile.TrainedModel.Load(temp.File("cluster/model.deepem"));
        Assert.InRange(model.Training.ValidationAccuracy, reference.Training.ValidationAccuracy - 0.01, reference.Training.ValidationAccuracy + 0.01);
        // Nothing was applied twice or lost: the weights are those of the one-process run.
        var scale = reference.Parameters.Max(v => Math.Abs(v));
        var difference = reference.Parameters.Zip(model.Parameters, (a, b) => Math.Abs(a - b)).Max() / scale;
        Assert.True(difference <= 1e-5, $"weights differ by {difference:g3} of the largest");
        // The killed worker's slice timed out and went to another worker, or the cluster removed the node first.
        Assert.Matches("not back from|is gone", File.ReadAllText(cluster.CoordinatorLog));
    }
}
