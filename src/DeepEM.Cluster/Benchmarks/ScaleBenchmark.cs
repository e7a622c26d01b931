using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using Akka.Actor;
using DeepEM.Cluster.Clients;
using DeepEM.Cluster.Blobs;
using DeepEM.Cluster.Nodes;
using DeepEM.Cluster.Protocol;
using DeepEM.Numerics.ModelFile;
using DeepEM.Numerics.ModelFile.Proto;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Training;

namespace DeepEM.Cluster.Benchmarks;

/// <summary>What one run of the scale benchmark measured (the keys of <c>deepem bench --parts cluster --json</c>).</summary>
public sealed record ScaleRun
{
    public required string Journal { get; init; }
    public required int Nodes { get; init; }
    public required int Micrographs { get; init; }
    /// <summary>Sustained rate through the coordinator: micrographs recorded between 10% and 45% of the campaign (before any node joins or leaves), per second.</summary>
    public double MicrographsPerSecond { get; init; }
    /// <summary>The coordinator process's CPU time (user + system) over the same span, per micrograph.</summary>
    public double CoordinatorCpuMsPerMicrograph { get; init; }
    /// <summary>The coordinator actor's own busy time per micrograph (campaign.json's coordinatorMsPerMicrograph).</summary>
    public double CoordinatorActorMsPerMicrograph { get; init; }
    public double JournalBytesPerMicrograph { get; init; }
    public long JournalRows { get; init; }
    public long Snapshots { get; init; }
    public long SnapshotBytes { get; init; }
    public double SubmitSeconds { get; init; }
    public double CampaignSeconds { get; init; }
    /// <summary>A killed coordinator started again: its journal recovery (the actor's start to its recovery completed).</summary>
    public double RecoverySeconds { get; init; }
    /// <summary>A killed coordinator started again: from the process's start until it answers for the whole campaign.</summary>
    public double RestartSeconds { get; init; }
    /// <summary>
    /// Times the restarted coordinator stopped on its own (downed) and was started again by the harness, as a supervisor
    /// (systemd's Restart=on-failure) would; <see cref="RestartSeconds"/> includes them. Zero unless it was downed.
    /// </summary>
    public int SupervisorRestarts { get; init; }
    public double CoordinatorPeakMb { get; init; }
    /// <summary>The coordinator's managed heap at the end of the campaign (its /metrics: dotnet_total_memory_bytes).</summary>
    public double CoordinatorHeapMb { get; init; }
    /// <summary>A worker node started mid-campaign: from its start until its first micrograph.</summary>
    public double JoinSeconds { get; init; }
    public int LeavingNodes { get; init; }
    /// <summary>Nodes that left at once: until every micrograph that had been handed to them and that they did not finish was picked elsewhere.</summary>
    public double LeaveRedoneSeconds { get; init; }
    public int LeaveRedoneMicrographs { get; init; }
    /// <summary>Every micrograph recorded as picked exactly once in the journal, one .star per micrograph, the status complete.</summary>
    public bool ExactlyOnce { get; init; }
}

/// <summary>
/// The cluster at scale on one machine: one campaign coordinator in a process of its own (<c>deepem node --roles
/// coordinator</c>, with a real journal: SQLite, or PostgreSQL), N worker nodes as ActorSystems in this process on
/// 127.0.0.1 whose picking engine answers at once with ready-made picks (<see cref="InstantPicking"/>) and writes real
/// output files, and a synthetic campaign of micrograph names. It measures the rate through the coordinator, its CPU
/// time and memory, the journal's size, a worker joining and nodes leaving mid-campaign, a coordinator killed and
/// restarted, and checks that every micrograph was recorded exactly once.
/// </summary>
public sealed class ScaleBenchmark(ScaleBenchmark.Settings settings)
{
    /// <param name="StartProcess">Starts <c>deepem</c> with these arguments (the program knows how it was started).</param>
    public sealed record Settings(Func<IReadOnlyList<string>, ProcessStartInfo> StartProcess, Action<string> Log)
    {
        public int PicksPerMicrograph { get; init; } = 100;
        public int LeavingNodes { get; init; } = 16;
        public string? Folder { get; init; }

        /// <summary>Keep each run's folder (journal, logs, outputs) for a look afterwards.</summary>
        public bool Keep { get; init; }
    }

    private const int BoxSize = 64;

    /// <summary>A supervisor gives up on a node that keeps stopping: so does the harness, after this many restarts.</summary>
    public const int MaxSupervisorRestarts = 2;

    /// <summary>One run: <paramref name="nodes"/> workers, <paramref name="micrographs"/> names, the journal at <paramref name="postgres"/> (null: SQLite).</summary>
    public async Task<ScaleRun> RunAsync(int nodes, int micrographs, LocalPostgres? postgres, CancellationToken cancel = default)
    {
        var journal = postgres is null ? "sqlite" : "postgresql";
        var root = Path.Combine(settings.Folder ?? Path.GetTempPath(), $"deepem-scale-{journal}-{nodes}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(root);
        var clock = Stopwatch.StartNew();
        var workers = new List<ClusterNode>();
        CoordinatorProcess? coordinator = null;
        try
        {
            var database = postgres is null ? null : CreateDatabase(postgres, $"deepem_scale_{nodes}_{Guid.NewGuid().ToString("N")[..8]}");
            var config = Path.Combine(root, "bench.conf");
            File.WriteAllText(config, NodeConfig(database));
            var model = WriteModel(Path.Combine(root, "model.deepem"));
            // Any free ports, read back from the node's start line.
            string[] coordinatorArgs = ["node", "--roles", "coordinator", "--port", "0", "--state", Path.Combine(root, "state"), "--config", config,
                "--log", Path.Combine(root, "coordinator.log"), "--metrics-port", "0"];
            coordinator = await CoordinatorProcess.StartAsync(settings.StartProcess(coordinatorArgs), Path.Combine(root, "coordinator.log"), cancel);
            var seed = coordinator.Seed;
            // Restarted as an operator restarts a seed: on the port it had (the members it saw rejoin it there).
            coordinatorArgs[4] = seed[(seed.LastIndexOf(':') + 1)..];
            var picking = new InstantPicking(InstantPicking.ReadyMade(settings.PicksPerMicrograph), BoxSize, clock);

            var started = Stopwatch.StartNew();
            for (var batch = 0; batch < nodes; batch += 8)
            {
                var group = Enumerable.Range(batch, Math.Min(8, nodes - batch)).Select(i => StartWorker(root, i, seed, config, picking, cancel));
                workers.AddRange(await Task.WhenAll(group));
            }
            await WaitFor(() => workers[0].Cluster.State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up && m.HasRole(Roles.Worker)) == nodes,
                TimeSpan.FromMinutes(3), $"{nodes} worker nodes up");
            settings.Log($"{journal}, {nodes} nodes: cluster up in {started.Elapsed.TotalSeconds:0.0} s; submitting {micrographs:N0} micrographs");

            var spec = Spec(root, model, micrographs);
            var progress = new List<double>(micrographs);
            double cpuAt10 = 0, cpuAt90 = 0, timeAt10 = 0, timeAt90 = 0;
            // The rate is measured while nothing else happens (10% to 45% of the campaign); a node joins at 50%, some leave at 70%.
            int at10 = micrographs / 10, at90 = micrographs * 45 / 100;
            ClusterNode? joined = null;
            Task<ClusterNode>? joining = null;
            double joinStart = 0;
            double leaveStart = 0;
            Task? leaving = null;
            var leavers = new HashSet<string>(StringComparer.Ordinal);
            var leaveCount = nodes >= 2 ? Math.Min(settings.LeavingNodes, nodes / 2) : 0;
            var submitStart = clock.Elapsed.TotalSeconds;
            double accepted = 0;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            timeout.CancelAfter(TimeSpan.FromMinutes(30));
            var outcome = await new CampaignClient(workers[0]).RunAsync(spec, _ => accepted = clock.Elapsed.TotalSeconds, p =>
            {
                var now = clock.Elapsed.TotalSeconds;
                progress.Add(now);
                var count = progress.Count;
                if (count == at10) (cpuAt10, timeAt10) = (coordinator.CpuSeconds(), now);
                if (count == at90) (cpuAt90, timeAt90) = (coordinator.CpuSeconds(), now);
                if (count == micrographs / 2 && joining is null)
                {
                    joinStart = now;
                    joining = StartWorker(root, nodes, seed, config, picking, cancel);
                }
                if (count == micrographs * 7 / 10 && leaving is null && leaveCount > 0)
                {
                    leaveStart = now;
                    var going = workers.Skip(1).TakeLast(leaveCount).ToList();
                    foreach (var w in going) leavers.Add(w.Address.ToString());
                    leaving = Task.WhenAll(going.Select(w => Task.Run(w.LeaveAsync)));
                }
            }, timeout.Token);
            var finished = clock.Elapsed.TotalSeconds;
            if (joining is not null) workers.Add(joined = await joining);
            if (leaving is not null) await leaving.WaitAsync(TimeSpan.FromMinutes(6), cancel);
            settings.Log($"{journal}, {nodes} nodes: joining node in after {clock.Elapsed.TotalSeconds - joinStart:0.0} s, leaving nodes out after {clock.Elapsed.TotalSeconds - leaveStart:0.0} s");
            var status = outcome.Final;
            settings.Log($"{journal}, {nodes} nodes: {status.Done:N0} picked in {finished - submitStart:0.0} s");

            var stars = Directory.EnumerateFiles(spec.OutDir, "*.star").Count(f => Path.GetFileName(f) != "autopick.star");
            var audit = ReadJournal(root, database);
            var campaign = audit.Campaigns.GetValueOrDefault(spec.CampaignId);
            var exactlyOnce = status.Complete && status.Done == micrographs && status.Failed == 0 && stars == micrographs && campaign is { ExactlyOnce: true };
            if (!exactlyOnce)
            {
                settings.Log($"NOT exactly once: status {status.Done}/{status.Total} done, {status.Failed} failed; {stars} .star files; journal {campaign}");
            }

            var join = joined is null ? double.NaN
                : picking.Picked.Where(p => p.Node == joined.Address.ToString()).Select(p => p.At).DefaultIfEmpty(double.NaN).Min() - joinStart;
            var (redone, redoneCount) = Redone(picking, leavers, leaveStart);

            // The coordinator killed (SIGKILL) and started again with the same command line: it recovers the campaign.
            settings.Log($"{journal}, {nodes} nodes: journal audited; killing and restarting the coordinator");
            var peakMb = coordinator.PeakMegabytes();
            var heapMb = await ManagedHeapMegabytes(coordinator.MetricsUrl);
            coordinator.Kill();
            var restartStart = Stopwatch.StartNew();
            coordinator = await CoordinatorProcess.StartAsync(settings.StartProcess(coordinatorArgs), Path.Combine(root, "coordinator.log"), cancel);
            var recovery = await coordinator.RecoverySecondsAsync(TimeSpan.FromMinutes(3), cancel);
            var supervisorRestarts = new List<int>();
            var answering = Stopwatch.StartNew();
            while (!Answers(workers[0], spec.CampaignId, micrographs))
            {
                if (coordinator.HasExited && supervisorRestarts.Count == MaxSupervisorRestarts)
                {
                    throw new InvalidOperationException($"the restarted coordinator stopped {MaxSupervisorRestarts + 1} times; the last {coordinator.Describe()}");
                }
                if (coordinator.HasExited)
                {
                    // Downed by the split-brain resolver, it stopped its process (seen under CI's load: see
                    // docs/benchmarks.md on a restarted seed). Started again, as deploy/systemd's Restart=on-failure
                    // would, and counted in the figures; what it logged about membership says why it was downed.
                    supervisorRestarts.Add(coordinator.ExitCode);
                    settings.Log($"{journal}, {nodes} nodes: the restarted coordinator stopped on its own: {coordinator.Describe()}");
                    settings.Log($"{journal}, {nodes} nodes: starting it again, as a supervisor would ({supervisorRestarts.Count} of at most {MaxSupervisorRestarts})");
                    coordinator = await CoordinatorProcess.StartAsync(settings.StartProcess(coordinatorArgs), Path.Combine(root, "coordinator.log"), cancel);
                    // The recovery reported is the one of the incarnation that answers.
                    recovery = await coordinator.RecoverySecondsAsync(TimeSpan.FromMinutes(3), cancel);
                    answering.Restart();
                }
                if (answering.Elapsed > TimeSpan.FromMinutes(3))
                {
                    throw new TimeoutException($"the restarted coordinator's status: not within 180 s; the coordinator {coordinator.Describe()}");
                }
                await Task.Delay(100, cancel);
            }
            var restart = restartStart.Elapsed.TotalSeconds;
            peakMb = Math.Max(peakMb, coordinator.PeakMegabytes());
            settings.Log($"{journal}, {nodes} nodes: restarted coordinator recovered in {recovery:0.00} s, answers after {restart:0.0} s");

            return new ScaleRun
            {
                Journal = journal,
                Nodes = nodes,
                Micrographs = micrographs,
                MicrographsPerSecond = (at90 - at10) / (timeAt90 - timeAt10),
                CoordinatorCpuMsPerMicrograph = 1000 * (cpuAt90 - cpuAt10) / (at90 - at10),
                CoordinatorActorMsPerMicrograph = status.CoordinatorMsPerMicrograph,
                JournalBytesPerMicrograph = (double)audit.Bytes / micrographs,
                JournalRows = audit.Rows,
                Snapshots = audit.Snapshots,
                SnapshotBytes = audit.SnapshotBytes,
                SubmitSeconds = accepted - submitStart,
                CampaignSeconds = finished - submitStart,
                RecoverySeconds = recovery,
                RestartSeconds = restart,
                SupervisorRestarts = supervisorRestarts.Count,
                CoordinatorPeakMb = peakMb,
                CoordinatorHeapMb = heapMb,
                JoinSeconds = join,
                LeavingNodes = leaveCount,
                LeaveRedoneSeconds = redone,
                LeaveRedoneMicrographs = redoneCount,
                ExactlyOnce = exactlyOnce,
            };
        }
        finally
        {
            // Workers leave while the coordinator still runs (without it they would wait out the leaving phases' timeouts).
            await Task.WhenAll(workers.Select(w => Task.Run(async () => await w.DisposeAsync())));
            coordinator?.Kill();
            try
            {
                if (settings.Keep) settings.Log($"kept {root}");
                else Directory.Delete(root, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    /// <summary>
    /// After nodes left: every micrograph handed to a leaving node that it did not pick itself was picked by another node;
    /// how long after the leave the last of them was, and how many there were.
    /// </summary>
    private static (double Seconds, int Count) Redone(InstantPicking picking, HashSet<string> leavers, double leaveStart)
    {
        if (leavers.Count == 0) return (double.NaN, 0);
        var pickedByLeavers = picking.Picked.Where(p => leavers.Contains(p.Node)).Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var held = picking.Queued.Where(q => leavers.Contains(q.Node) && !pickedByLeavers.Contains(q.Name)).Select(q => q.Name).ToHashSet(StringComparer.Ordinal);
        var redone = picking.Picked.Where(p => held.Contains(p.Name) && !leavers.Contains(p.Node)).GroupBy(p => p.Name).Select(g => g.Min(p => p.At)).ToList();
        if (redone.Count < held.Count) return (double.PositiveInfinity, held.Count);
        return (redone.Count == 0 ? 0 : redone.Max() - leaveStart, held.Count);
    }

    private static async Task<double> ManagedHeapMegabytes(string metricsUrl)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            foreach (var line in (await http.GetStringAsync($"{metricsUrl}/metrics")).Split('\n'))
            {
                if (line.StartsWith("dotnet_total_memory_bytes ", StringComparison.Ordinal))
                {
                    return double.Parse(line["dotnet_total_memory_bytes ".Length..], CultureInfo.InvariantCulture) / 1048576;
                }
            }
        }
        catch (HttpRequestException)
        {
        }
        return double.NaN;
    }

    private static bool Answers(ClusterNode node, string campaignId, int micrographs)
    {
        try
        {
            var report = node.Coordinator.Ask<CampaignStatusReport>(new GetCampaignStatus(campaignId), TimeSpan.FromSeconds(5)).GetAwaiter().GetResult();
            return report.Campaigns.Any(c => c.Complete && c.Done == micrographs);
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            return false;
        }
    }

    private Task<ClusterNode> StartWorker(string root, int i, string seed, string config, InstantPicking picking, CancellationToken cancel) =>
        ClusterNode.StartAsync(new NodeOptions
        {
            Roles = [Roles.Worker],
            SeedNodes = [seed],
            ConfigFiles = [config],
            // Many workers in one process: one socket thread each way; unpooled transport buffers (each ActorSystem's pool
            // holds 16 MB or more, which times 64 would be a gigabyte of large objects for this process's collector to
            // mark); a 20 s heartbeat pause and a 2-minute join, as 64 nodes starting on two cores answer late; and only
            // warnings in their logs (a line per micrograph at 1,000 a second would measure the log).
            // The coordinator, in its own process, runs the nodes' own configuration.
            ExtraConfig = """
                akka.remote.dot-netty.tcp.server-socket-worker-pool { pool-size-min = 1, pool-size-max = 1 }
                akka.remote.dot-netty.tcp.client-socket-worker-pool { pool-size-min = 1, pool-size-max = 1 }
                akka.remote.dot-netty.tcp.enable-pooling = false
                akka.cluster.failure-detector.acceptable-heartbeat-pause = 20s
                deepem.cluster.join-timeout = 120s
                """,
            LogLevel = "WARNING",
            LogFile = Path.Combine(root, $"worker-{i}.log"),
            Device = Numerics.Backends.DeviceChoice.Cpu,
            WrapPicking = _ => picking,
        }, cancel);

    /// <summary>The nodes' configuration: the journal (a PostgreSQL database, or SQLite in the coordinator's state folder).</summary>
    private static string NodeConfig(string? postgres) => (postgres is null ? "" : $$"""
        akka.persistence.journal.sql { provider-name = "PostgreSQL.15", connection-string = "{{postgres}}" }
        akka.persistence.snapshot-store.sql { provider-name = "PostgreSQL.15", connection-string = "{{postgres}}" }
        """);

    private static string CreateDatabase(LocalPostgres server, string name)
    {
        using var connection = new Npgsql.NpgsqlConnection(server.ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"CREATE DATABASE {name}";
        command.ExecuteNonQuery();
        return $"Host=127.0.0.1;Port={server.Port};Username=deepem;Database={name}";
    }

    private static JournalFigures ReadJournal(string root, string? postgres)
    {
        using DbConnection connection = postgres is null
            ? new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(root, "state", "journal.db")};Mode=ReadOnly")
            : new Npgsql.NpgsqlConnection(postgres);
        connection.Open();
        return JournalAudit.Read(connection);
    }

    /// <summary>A deepem-48 model with random weights: the coordinator registers it, the workers take its box for .box files.</summary>
    private static (string Path, byte[] Bytes) WriteModel(string path)
    {
        var arch = Presets.Create(Presets.Default, 48);
        var model = new TrainedModel(arch, WeightInitialization.Create(arch, 1),
            new Preprocessing { Binning = 1, BinningMethod = "block-mean", Normalization = "per-micrograph", BoxSizeOriginal = BoxSize },
            0.5f, 0f, float.MaxValue, new TrainingRecord());
        var bytes = model.ToBytes();
        File.WriteAllBytes(path, bytes);
        return (path, bytes);
    }

    /// <summary>A campaign of synthetic names, as a facility's would look (one session folder of FoilHole micrographs).</summary>
    private static CampaignSpec Spec(string root, (string Path, byte[] Bytes) model, int micrographs)
    {
        var outDir = Path.Combine(root, "picks");
        var refs = Enumerable.Range(0, micrographs)
            .Select(i => new MicrographRef($"FoilHole_{i:D8}_Data_fractions", $"/data/session/Micrographs/FoilHole_{i:D8}_Data_fractions.mrc")).ToList();
        return new CampaignSpec(CampaignClient.CampaignIdOf(outDir), outDir, model.Path, HashedFiles.Sha256Hex(model.Bytes), model.Bytes.LongLength, refs,
            new Pipeline.Picking.PickSettings(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), []);
    }

    private static async Task WaitFor(Func<bool> condition, TimeSpan limit, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > limit) throw new TimeoutException($"{what}: not within {limit.TotalSeconds:0} s");
            await Task.Delay(100);
        }
    }

    /// <summary>The coordinator node's process: started, waited for, measured through /proc, killed.</summary>
    private sealed class CoordinatorProcess
    {
        private readonly Process _process;
        private readonly string _log;
        private readonly long _logStart;

        private static readonly System.Text.RegularExpressions.Regex UpLine = new(@"^node (\S+) is up \(roles[^)]*\)(?:; metrics at (\S+)/metrics;)?");

        private CoordinatorProcess(Process process, string log, long logStart, string upLine)
        {
            _process = process;
            _log = log;
            _logStart = logStart;
            var up = UpLine.Match(upLine);
            Seed = up.Groups[1].Value;
            MetricsUrl = up.Groups[2].Value;
        }

        /// <summary>Its address for --seed-nodes (host:port, the port it bound).</summary>
        public string Seed { get; }

        /// <summary>Its metrics endpoint (http://host:port), the port it found.</summary>
        public string MetricsUrl { get; }

        public static async Task<CoordinatorProcess> StartAsync(ProcessStartInfo start, string log, CancellationToken cancel)
        {
            start.RedirectStandardOutput = true;
            start.RedirectStandardError = true;
            start.UseShellExecute = false;
            var logStart = File.Exists(log) ? new FileInfo(log).Length : 0;
            var up = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            var lines = new List<string>();
            var process = Process.Start(start) ?? throw new InvalidOperationException("the coordinator process could not be started");
            void Line(string? line)
            {
                if (line is null) return;
                lock (lines) lines.Add(line);
                if (line.Contains(" is up (roles", StringComparison.Ordinal)) up.TrySetResult(line);
            }
            process.OutputDataReceived += (_, e) => Line(e.Data);
            process.ErrorDataReceived += (_, e) => Line(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var exited = process.WaitForExitAsync(cancel);
            if (await Task.WhenAny(up.Task, exited, Task.Delay(TimeSpan.FromMinutes(2), cancel)) != up.Task)
            {
                if (!process.HasExited) process.Kill(entireProcessTree: true);
                lock (lines) throw new InvalidOperationException($"the coordinator node did not come up:\n{string.Join('\n', lines)}");
            }
            return new CoordinatorProcess(process, log, logStart, await up.Task);
        }

        public bool HasExited => _process.HasExited;

        public int ExitCode => _process.ExitCode;

        /// <summary>User and system CPU seconds so far (/proc/PID/stat, in clock ticks of 1/100 s).</summary>
        public double CpuSeconds()
        {
            var stat = File.ReadAllText($"/proc/{_process.Id}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // After the command name: state is field 3, utime 14 and stime 15 (1-based), so 11 and 12 here.
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
        }

        /// <summary>The process's peak resident memory (VmHWM), in MB.</summary>
        public double PeakMegabytes()
        {
            var line = File.ReadLines($"/proc/{_process.Id}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        }

        /// <summary>The recovery time the coordinator logged ("recovered ... in X s") in this incarnation's part of the log.</summary>
        public async Task<double> RecoverySecondsAsync(TimeSpan limit, CancellationToken cancel)
        {
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < limit)
            {
                using (var stream = new FileStream(_log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
                {
                    stream.Seek(_logStart, SeekOrigin.Begin);
                    using var reader = new StreamReader(stream);
                    while (await reader.ReadLineAsync(cancel) is { } line)
                    {
                        var at = line.IndexOf("campaign coordinator recovered", StringComparison.Ordinal);
                        if (at < 0) continue;
                        var words = line[at..].Split(' ');
                        var i = Array.LastIndexOf(words, "in");
                        return double.Parse(words[i + 1], CultureInfo.InvariantCulture);
                    }
                }
                await Task.Delay(100, cancel);
            }
            throw new TimeoutException("the restarted coordinator did not recover its journal");
        }

        /// <summary>
        /// Running or exited; what this incarnation logged about the cluster's membership and reachability (joins,
        /// reachability changes, the split-brain resolver's decisions: what explains a node downed), then its last lines.
        /// </summary>
        public string Describe()
        {
            var state = _process.HasExited ? $"exited with code {_process.ExitCode}" : "still runs";
            using var stream = new FileStream(_log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            stream.Seek(_logStart, SeekOrigin.Begin);
            using var reader = new StreamReader(stream);
            var lines = reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            string[] membership = ["SBR", "REACHABLE", "JOINING", "InitJoin", "Welcome", "incarnation", "Marking", "leader", "DOWN"];
            var cluster = lines.SkipLast(15).Where(l => membership.Any(m => l.Contains(m, StringComparison.Ordinal))).TakeLast(40).Select(l => l.Length > 600 ? l[..600] + " …" : l);
            return $"{state}; its membership and reachability:\n{string.Join('\n', cluster)}\nits last lines:\n{string.Join('\n', lines.TakeLast(15))}";
        }

        public void Kill()
        {
            if (_process.HasExited) return;
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
    }
}
