using System.Diagnostics;
using Akka.Actor;
using DeepEM.Classification;
using DeepEM.Cluster.Diagnostics;
using DeepEM.Cluster.Protocol;
using DeepEM.Pipeline.Classification;

namespace DeepEM.Cluster.Classification;

/// <summary>
/// One per worker node (<c>/user/classification-worker</c>): cuts the particles of the shards a classification client
/// gives it (reading the micrographs from their paths) and keeps them, then computes its shards' parts of each step,
/// one task at a time, a reply per shard. Nothing else is kept between steps, so a shard can move to any node. The
/// particles of a classification are dropped when its client says it is over, or after
/// <see cref="IdleTimeout"/> without a task (a client that died cannot say so).
/// </summary>
internal sealed class ClassificationWorker : ReceiveActor, IWithTimers
{
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(15);

    private sealed record Loaded(LoadParticleShard Request, IActorRef ReplyTo, LoadedShard? Shard, string? Error) : INoSerializationVerificationNeeded;

    private sealed record Computed(ClassificationTask Task, IActorRef ReplyTo) : INoSerializationVerificationNeeded;

    private sealed class Sweep : INoSerializationVerificationNeeded
    {
        public static readonly Sweep Instance = new();
    }

    private readonly NodeLog _log = new(Context);
    private readonly string _node;
    private readonly Dictionary<(string Job, int Shard), (ShardComputation Computation, int Skipped, IReadOnlyList<string> Failures)> _shards = [];
    private readonly HashSet<(string Job, int Shard)> _loading = [];
    private readonly Dictionary<string, DateTime> _lastUsed = new(StringComparer.Ordinal);
    private readonly Queue<(ClassificationTask Task, IActorRef ReplyTo)> _queue = new();
    private readonly CancellationTokenSource _cancel = new();
    private bool _busy;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string node) => Akka.Actor.Props.Create(() => new ClassificationWorker(node));

    public ClassificationWorker(string node)
    {
        _node = node;
        Receive<LoadParticleShard>(OnLoad);
        Receive<Loaded>(OnLoaded);
        Receive<ClassificationTask>(t =>
        {
            _lastUsed[t.JobId] = DateTime.UtcNow;
            _queue.Enqueue((t, Sender));
            Next();
        });
        Receive<Computed>(c =>
        {
            if (_lastUsed.ContainsKey(c.Task.JobId)) _lastUsed[c.Task.JobId] = DateTime.UtcNow;
            _busy = false;
            Next();
        });
        Receive<ForgetClassification>(f => Forget(f.JobId));
        Receive<Sweep>(_ =>
        {
            foreach (var job in _lastUsed.Where(j => DateTime.UtcNow - j.Value > IdleTimeout).Select(j => j.Key).ToList())
            {
                _log.Info(default, $"classification {job}: no task for {IdleTimeout.TotalMinutes:0} min, its particles are dropped");
                Forget(job);
            }
        });
    }

    protected override void PreStart() => Timers.StartPeriodicTimer("sweep", Sweep.Instance, TimeSpan.FromMinutes(1));

    protected override void PostStop()
    {
        _cancel.Cancel();
        _cancel.Dispose();
    }

    private void Forget(string job)
    {
        foreach (var key in _shards.Keys.Where(k => k.Job == job).ToList()) _shards.Remove(key);
        _lastUsed.Remove(job);
    }

    private void OnLoad(LoadParticleShard request)
    {
        var key = (request.JobId, request.Shard.Index);
        _lastUsed[request.JobId] = DateTime.UtcNow;
        if (_shards.TryGetValue(key, out var known))
        {
            Sender.Tell(new ParticleShardLoaded(request.JobId, request.Shard.Index, _node, known.Computation.Particles.Count, known.Skipped, known.Failures));
            return;
        }
        if (!_loading.Add(key)) return; // the answer to the first request goes out when it is done
        var replyTo = Sender;
        var token = _cancel.Token;
        Task.Run(() =>
        {
            try
            {
                return new Loaded(request, replyTo, ParticleShards.Load(request.Shard, request.Settings, token), null);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return new Loaded(request, replyTo, null, e.Message);
            }
        }, token).PipeTo(Self);
    }

    private void OnLoaded(Loaded loaded)
    {
        var request = loaded.Request;
        _loading.Remove((request.JobId, request.Shard.Index));
        if (loaded.Shard is not { } shard)
        {
            loaded.ReplyTo.Tell(new ClassificationRefused(request.JobId, -1, request.Shard.Index, _node, loaded.Error ?? "could not cut the particles"));
            return;
        }
        // A classification forgotten while this shard was being cut (its client stopped) does not keep it.
        if (!_lastUsed.ContainsKey(request.JobId)) return;
        var failures = shard.Failures.Select(f => f.Message).ToList();
        _shards[(request.JobId, request.Shard.Index)] = (new ShardComputation(request.Shard.Index, shard.Particles), shard.Skipped, failures);
        _log.Info(LogFields.ForCampaign(request.JobId),
            $"shard {request.Shard.Index}: {shard.Particles.Count} particles from {request.Shard.Micrographs.Count} micrographs ({shard.Skipped} picks too near an edge)");
        loaded.ReplyTo.Tell(new ParticleShardLoaded(request.JobId, request.Shard.Index, _node, shard.Particles.Count, shard.Skipped, failures));
    }

    private void Next()
    {
        if (_busy || !_queue.TryDequeue(out var item)) return;
        _busy = true;
        var (task, replyTo) = item;
        var shards = task.Shards.Select(s => (Index: s, Computation: _shards.TryGetValue((task.JobId, s), out var held) ? held.Computation : null)).ToList();
        var node = _node;
        // Replies from the computing thread name this actor as their sender: the driver checks who sent them.
        var self = Self;
        var token = _cancel.Token;
        // Parts go straight back from the computing thread (Tell is thread-safe); the actor only learns that it is free again.
        Task.Run(() =>
        {
            foreach (var (index, computation) in shards)
            {
                if (token.IsCancellationRequested) break;
                if (computation is null)
                {
                    replyTo.Tell(new ClassificationRefused(task.JobId, task.Step.Number, index, node, "shard not loaded on this node"), self);
                    continue;
                }
                var watch = Stopwatch.StartNew();
                try
                {
                    var part = computation.Compute(task.Step, token);
                    replyTo.Tell(new ClassificationPart(task.JobId, task.Step.Number, node, watch.Elapsed.TotalSeconds, part), self);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    replyTo.Tell(new ClassificationRefused(task.JobId, task.Step.Number, index, node, e.Message), self);
                }
            }
            return new Computed(task, replyTo);
        }, token).PipeTo(Self);
    }
}
