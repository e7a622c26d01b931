using Akka.Actor;
using Akka.Cluster;
using DeepEM.Classification;
using DeepEM.Classification.Steps;
using DeepEM.Cluster.Diagnostics;
using DeepEM.Cluster.Protocol;
using DeepEM.Pipeline.Classification;

namespace DeepEM.Cluster.Classification;

/// <summary>A classification to run: the particles' shards (a plan that depends on the data only) and how.</summary>
public sealed record ClassificationJob(string JobId, ExtractionSettings Settings, ClassificationOptions Options, IReadOnlyList<ParticleShardSpec> Shards)
{
    /// <summary>
    /// The largest message a step sends or gets back must fit well inside the remoting frame (4 MiB in hocon/base.conf;
    /// remoting drops a larger one with only a log line): the class averages or sums (classes × box² floats, with the
    /// last round's assignments, 24 bytes a particle) and the features' second moments (features² doubles).
    /// </summary>
    public const long MaxMessageBytes = 3L << 20;

    /// <summary>Refuses, in one line, a job whose messages would not fit (too many classes for the box, or too large a box).</summary>
    public void CheckMessageSizes()
    {
        var geometry = Settings.Geometry();
        var picks = Shards.Count == 0 ? 0 : Shards.Max(s => s.Picks);
        var classes = 4L * Options.Classes * geometry.Pixels + 24L * picks;
        if (classes > MaxMessageBytes)
            throw new ArgumentException($"{Options.Classes} classes of {geometry.Size} px boxes make messages of {classes / 1048576.0:0.0} MiB (at most {MaxMessageBytes >> 20} MiB): use fewer classes or a larger --bin");
        var moments = 8L * geometry.FeatureCount * geometry.FeatureCount;
        if (moments > MaxMessageBytes)
            throw new ArgumentException($"a {geometry.Size} px box has {geometry.FeatureCount} features, whose moments make messages of {moments / 1048576.0:0.0} MiB (at most {MaxMessageBytes >> 20} MiB): use a larger --bin");
    }
}

/// <summary>Where a classification is: its phase, the step (of at most <see cref="MaxSteps"/>), what the last step did.</summary>
public sealed record ClassificationProgress(string Phase, int Step, int MaxSteps, RoundReport? Report, int Workers, int ShardsLoaded, int Shards);

/// <summary>A finished classification, with what was left out: picks near an edge and micrographs that could not be read.</summary>
public sealed record ClassificationOutcome(ClassificationResult Result, int Skipped, IReadOnlyList<string> Failures, IReadOnlyList<string> Nodes);

/// <summary>The classification could not be done (no workers, no particles, a shard that every worker refuses).</summary>
public sealed class ClassificationFailedException(string reason) : Exception(reason);

/// <summary>
/// Drives one classification from the client's node. It finds the classification workers of the cluster's worker
/// nodes (by membership, then <c>Identify</c>), hands each a balanced set of shards to cut, and runs the steps of a
/// <see cref="ClassificationRun"/>: each step goes to every worker with its shards, and the parts are added up in
/// shard order once every shard's part is in. A shard whose worker leaves, dies, refuses or is silent for
/// <see cref="ClassificationSettings.StepTimeout"/> goes to another worker, which cuts its particles and computes the
/// step; its part is used once, whoever sends it. As the parts depend on the step and the particles alone, the
/// result is the same whichever nodes computed what.
/// </summary>
internal sealed class ClassificationDriver : ReceiveActor, IWithTimers
{
    private sealed class Tick : INoSerializationVerificationNeeded
    {
        public static readonly Tick Instance = new();
    }

    private const int MaxRefusals = 3;

    private readonly ClassificationJob _job;
    private readonly ClassificationSettings _settings;
    private readonly Action<ClassificationProgress> _progress;
    private readonly TaskCompletionSource<ClassificationOutcome> _done;
    private readonly NodeLog _log = new(Context);
    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);
    private readonly Dictionary<Address, IActorRef> _workers = [];
    private readonly HashSet<Address> _upWorkerMembers = [];
    private readonly Dictionary<int, IActorRef?> _owner = [];
    private readonly Dictionary<int, ParticleShardLoaded> _loaded = [];
    /// <summary>The worker that holds each shard's particles now (a moved shard is not held until its new worker says so).</summary>
    private readonly Dictionary<int, IActorRef> _heldBy = [];
    private readonly Dictionary<int, ShardResult> _parts = [];
    private readonly Dictionary<int, DateTime> _sentAt = [];
    private readonly Dictionary<int, int> _refusals = [];
    private readonly HashSet<string> _nodes = new(StringComparer.Ordinal);
    private readonly DateTime _started = DateTime.UtcNow;
    private DateTime? _firstWorker;
    private DateTime? _allGoneSince;
    private bool _handedOut;
    private ClassificationRun? _run;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(ClassificationJob job, ClassificationSettings settings, Action<ClassificationProgress> progress, TaskCompletionSource<ClassificationOutcome> done) =>
        Akka.Actor.Props.Create(() => new ClassificationDriver(job, settings, progress, done));

    public ClassificationDriver(ClassificationJob job, ClassificationSettings settings, Action<ClassificationProgress> progress, TaskCompletionSource<ClassificationOutcome> done)
    {
        _job = job;
        _settings = settings;
        _progress = progress;
        _done = done;
        Receive<ClusterEvent.MemberUp>(m => MemberUp(m.Member));
        Receive<ClusterEvent.MemberRemoved>(m => Lost(m.Member.Address, "left the cluster"));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<ClusterEvent.CurrentClusterState>(_ => { });
        Receive<ActorIdentity>(Identified);
        Receive<Terminated>(t =>
        {
            var address = _workers.FirstOrDefault(w => w.Value.Equals(t.ActorRef)).Key;
            if (address is not null) Lost(address, "stopped");
        });
        Receive<ParticleShardLoaded>(OnLoaded);
        Receive<ClassificationPart>(OnPart);
        Receive<ClassificationRefused>(OnRefused);
        Receive<Tick>(_ => OnTick());
    }

    protected override void PreStart()
    {
        if (_job.Shards.Count == 0)
        {
            Fail("there are no picks to classify");
            return;
        }
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent));
        Timers.StartPeriodicTimer("tick", Tick.Instance, TimeSpan.FromSeconds(1));
        Report(null);
    }

    protected override void PostStop()
    {
        _cluster.Unsubscribe(Self);
        foreach (var worker in _workers.Values) worker.Tell(new ForgetClassification(_job.JobId));
        _done.TrySetException(new ClassificationFailedException("the classification was stopped"));
    }

    // ---- workers ----

    private void MemberUp(Member member)
    {
        if (!member.HasRole(Roles.Worker)) return;
        _upWorkerMembers.Add(member.Address);
        Context.ActorSelection(new RootActorPath(member.Address) / "user" / ActorNames.ClassificationWorker).Tell(new Identify(member.Address));
    }

    private void Identified(ActorIdentity identity)
    {
        if (identity.MessageId is not Address address || identity.Subject is not { } worker) return;
        if (!_upWorkerMembers.Contains(address) || _workers.ContainsKey(address)) return;
        _workers[address] = worker;
        _allGoneSince = null;
        Context.Watch(worker);
        _firstWorker ??= DateTime.UtcNow;
        _log.Info(LogFields.ForCampaign(_job.JobId), $"classification worker at {address.Host}:{address.Port}");
        if (_handedOut)
        {
            // A worker that joins late takes shards that lost theirs; the others keep what they hold.
            foreach (var shard in _owner.Where(o => o.Value is null).Select(o => o.Key).ToList()) Assign(shard, worker);
        }
        else if (_upWorkerMembers.All(_workers.ContainsKey) && DateTime.UtcNow - _started >= _settings.GatherWorkers)
        {
            HandOut();
        }
    }

    private void Lost(Address address, string why)
    {
        _upWorkerMembers.Remove(address);
        if (!_workers.Remove(address, out var worker)) return;
        Context.Unwatch(worker);
        if (_workers.Count == 0) _allGoneSince = DateTime.UtcNow;
        var orphans = _owner.Where(o => worker.Equals(o.Value)).Select(o => o.Key).ToList();
        if (orphans.Count > 0) _log.Warning(LogFields.ForCampaign(_job.JobId), $"worker {address.Host}:{address.Port} {why}: shards {string.Join(", ", orphans)} move");
        foreach (var shard in orphans) Reassign(shard, avoid: null);
    }

    private void HandOut()
    {
        _handedOut = true;
        // Largest shards first, each to the worker with the fewest picks so far.
        var load = _workers.Values.ToDictionary(w => w, _ => 0L);
        foreach (var shard in _job.Shards.OrderByDescending(s => s.Picks).ThenBy(s => s.Index))
        {
            var worker = load.OrderBy(l => l.Value).ThenBy(l => l.Key.Path.ToString(), StringComparer.Ordinal).First().Key;
            load[worker] += shard.Picks;
            Assign(shard.Index, worker);
        }
        Report(null);
    }

    private void Assign(int shard, IActorRef? worker)
    {
        _owner[shard] = worker;
        _sentAt[shard] = DateTime.UtcNow;
        worker?.Tell(new LoadParticleShard(_job.JobId, _job.Settings, _job.Shards[shard]));
    }

    private void Reassign(int shard, IActorRef? avoid)
    {
        var candidates = _workers.Values.Where(w => !w.Equals(avoid)).ToList();
        if (candidates.Count == 0) candidates = _workers.Values.ToList();
        var counts = candidates.ToDictionary(w => w, w => _owner.Count(o => w.Equals(o.Value)));
        var next = candidates.OrderBy(w => counts[w]).ThenBy(w => w.Path.ToString(), StringComparer.Ordinal).FirstOrDefault();
        Assign(shard, next);
    }

    // ---- steps ----

    private void OnLoaded(ParticleShardLoaded loaded)
    {
        if (loaded.JobId != _job.JobId || !Sender.Equals(_owner.GetValueOrDefault(loaded.Shard))) return;
        _nodes.Add(loaded.Node);
        _heldBy[loaded.Shard] = Sender;
        if (!_loaded.ContainsKey(loaded.Shard))
        {
            _loaded[loaded.Shard] = loaded;
            Report(null);
        }
        if (_run?.Current is { } step)
        {
            // A shard that moved: its new worker computes the current step now.
            if (!_parts.ContainsKey(loaded.Shard)) Send(step, [loaded.Shard], Sender);
            return;
        }
        if (_loaded.Count < _job.Shards.Count) return;
        var particles = _loaded.Values.Sum(l => (long)l.Particles);
        try
        {
            _run = new ClassificationRun(_job.Settings.Geometry(), _job.Options, _job.Shards.Count, particles);
        }
        catch (ArgumentException e)
        {
            Fail(particles == 0 ? "no particle could be cut: every pick is too near an edge, or its micrograph could not be read" : e.Message);
            return;
        }
        SendStep();
    }

    private void SendStep()
    {
        var step = _run!.Current!;
        _parts.Clear();
        Rebalance();
        // Shards whose worker holds them get the step now; a shard on its way to a new worker gets it once cut there.
        foreach (var group in _owner.Where(o => o.Value is not null && o.Value.Equals(_heldBy.GetValueOrDefault(o.Key))).GroupBy(o => o.Value!))
        {
            Send(step, group.Select(o => o.Key).Order().ToArray(), group.Key);
        }
        Report(null);
    }

    /// <summary>
    /// Between steps, a worker with two shards fewer than another takes one of its shards (largest first): workers that
    /// joined after the hand-out, or that took over from a lost one, even out. Which node computes a shard never changes
    /// the result.
    /// </summary>
    private void Rebalance()
    {
        while (_workers.Count > 1)
        {
            var counts = _workers.Values.ToDictionary(w => w, w => _owner.Count(o => w.Equals(o.Value)));
            var most = counts.OrderByDescending(c => c.Value).ThenBy(c => c.Key.Path.ToString(), StringComparer.Ordinal).First();
            var fewest = counts.OrderBy(c => c.Value).ThenBy(c => c.Key.Path.ToString(), StringComparer.Ordinal).First();
            if (most.Value - fewest.Value < 2) return;
            var shard = _owner.Where(o => most.Key.Equals(o.Value)).Select(o => o.Key).OrderByDescending(s => _job.Shards[s].Picks).ThenBy(s => s).First();
            _log.Info(LogFields.ForCampaign(_job.JobId), $"shard {shard} moves to {fewest.Key.Path.Address.Host}:{fewest.Key.Path.Address.Port} to even out the work");
            Assign(shard, fewest.Key);
        }
    }

    private void Send(ClassificationStep step, int[] shards, IActorRef worker)
    {
        foreach (var s in shards) _sentAt[s] = DateTime.UtcNow;
        worker.Tell(new ClassificationTask(_job.JobId, shards, step));
    }

    private void OnPart(ClassificationPart part)
    {
        if (_run?.Current is not { } step || part.JobId != _job.JobId || part.Step != step.Number) return;
        if (!_parts.TryAdd(part.Result.Shard, part.Result)) return; // computed twice (moved while it ran): used once
        _nodes.Add(part.Node);
        if (_parts.Count < _job.Shards.Count) return;
        RoundReport report;
        try
        {
            report = _run.Complete(_parts.Values.ToList());
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or InvalidCastException)
        {
            Fail($"step {step.Number} could not be completed: {e.Message}");
            return;
        }
        _log.Info(LogFields.ForCampaign(_job.JobId), $"{report.Phase}: {report.Summary}");
        Report(report);
        if (_run.Result is { } result)
        {
            var outcome = new ClassificationOutcome(result, _loaded.Values.Sum(l => l.Skipped), _loaded.Values.SelectMany(l => l.Failures).ToList(),
                _nodes.Order(StringComparer.Ordinal).ToList());
            _done.TrySetResult(outcome);
            Context.Stop(Self);
            return;
        }
        SendStep();
    }

    private void OnRefused(ClassificationRefused refused)
    {
        if (refused.JobId != _job.JobId || !Sender.Equals(_owner.GetValueOrDefault(refused.Shard))) return;
        if (refused.Step >= 0 && (_run?.Current?.Number != refused.Step || _parts.ContainsKey(refused.Shard))) return;
        var count = _refusals[refused.Shard] = _refusals.GetValueOrDefault(refused.Shard) + 1;
        _log.Warning(LogFields.ForCampaign(_job.JobId), $"shard {refused.Shard} refused by {refused.Node}: {refused.Reason}");
        if (count >= MaxRefusals)
        {
            Fail($"shard {refused.Shard} could not be {(refused.Step < 0 ? "cut" : "computed")} ({count} tries; last: {refused.Node}: {refused.Reason})");
            return;
        }
        Reassign(refused.Shard, avoid: Sender);
    }

    private void OnTick()
    {
        var now = DateTime.UtcNow;
        if (!_handedOut)
        {
            // Every worker member known, or the others slow to answer: the shards go out (a late worker gets some at the next step).
            if (_firstWorker is { } first && _workers.Count > 0 && now - _started >= _settings.GatherWorkers
                && (_upWorkerMembers.All(_workers.ContainsKey) || now - first >= 2 * _settings.GatherWorkers)) HandOut();
            else if (_firstWorker is null && now - _started >= _settings.WorkerWait)
                Fail($"no worker node answered within {_settings.WorkerWait.TotalSeconds:0} s: start nodes with the worker role (deepem node)");
            return;
        }
        foreach (var shard in _owner.Keys.ToList())
        {
            var waiting = _run is null ? !_loaded.ContainsKey(shard) : !_parts.ContainsKey(shard);
            if (!waiting || _owner[shard] is null || now - _sentAt[shard] < _settings.StepTimeout) continue;
            _log.Warning(LogFields.ForCampaign(_job.JobId), $"shard {shard}: nothing back after {_settings.StepTimeout.TotalSeconds:0} s, moving it");
            Reassign(shard, avoid: _owner[shard]);
        }
        if (_allGoneSince is { } gone && now - gone >= _settings.WorkerWait)
            Fail($"every worker node is gone and none came back within {_settings.WorkerWait.TotalSeconds:0} s");
    }

    private void Report(RoundReport? report) => _progress(new ClassificationProgress(_run?.Phase ?? (_handedOut ? "cutting particles" : "finding workers"),
        _run?.Rounds.Count ?? 0, _run?.MaxSteps ?? 0, report, _workers.Count, _loaded.Count, _job.Shards.Count));

    private void Fail(string reason)
    {
        _done.TrySetException(new ClassificationFailedException(reason));
        Context.Stop(Self);
    }
}
