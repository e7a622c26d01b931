using System.Diagnostics;
using Akka.Actor;
using DeepEM.Cluster.Blobs;
using DeepEM.Cluster.Diagnostics;
using DeepEM.Cluster.Protocol;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Training;

namespace DeepEM.Cluster.Training;

/// <summary>
/// One per worker node: computes the chunk gradients of the slices of training steps that the training coordinator
/// hands it, on the node's compute backend, one task at a time. It announces itself every few seconds, so a
/// coordinator that starts (or restarts) finds it. Weights arrive with every task and are checked against the
/// version's SHA-256 before use; the training set is read once per node (from its path when this node can read it
/// and the bytes hash right, otherwise fetched from the coordinator in chunks) and kept.
/// </summary>
internal sealed class GradientWorker : ReceiveActor, IWithTimers
{
    // Messages to itself: never serialized.
    private sealed record Computed(GradientTask Task, IActorRef ReplyTo, float[] Gradients, double[] Losses, double Seconds) : INoSerializationVerificationNeeded;

    private sealed record Refused(GradientTask Task, IActorRef ReplyTo, string Reason) : INoSerializationVerificationNeeded;

    private sealed class Announce : INoSerializationVerificationNeeded
    {
        public static readonly Announce Instance = new();
    }

    private readonly NodeLog _log = new(Context);
    private readonly NodeMetrics _metrics = NodeMetrics.For(Context.System);
    private readonly IActorRef _coordinator;
    private readonly BlobReplicas _blobs;
    private readonly DeviceChoice _device;
    private readonly string _node;
    private readonly TrainingSettings _settings;
    private readonly Queue<(GradientTask Task, IActorRef ReplyTo)> _queue = new();
    private readonly Dictionary<(string Job, long Step), float[]> _weightParts = [];
    private readonly Dictionary<string, Task<BoxSet>> _sets = new(StringComparer.Ordinal);
    private (string Key, IComputeBackend Backend)? _backend;
    private bool _busy;
    /// <summary>The step of each training's most recent task: the coordinator has one step under way at a time.</summary>
    private readonly Dictionary<string, long> _latestStep = new(StringComparer.Ordinal);

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IActorRef coordinator, BlobReplicas blobs, DeviceChoice device, string node, TrainingSettings settings) =>
        Akka.Actor.Props.Create(() => new GradientWorker(coordinator, blobs, device, node, settings));

    public GradientWorker(IActorRef coordinator, BlobReplicas blobs, DeviceChoice device, string node, TrainingSettings settings)
    {
        _coordinator = coordinator;
        _blobs = blobs;
        _device = device;
        _node = node;
        _settings = settings;
        Receive<Announce>(_ => _coordinator.Tell(new RegisterTrainer(_node, _backend?.Backend.Device ?? _device.ToString().ToLowerInvariant())));
        Receive<WeightsPart>(OnWeightsPart);
        Receive<GradientTask>(t =>
        {
            _latestStep[t.JobId] = t.Step;
            _queue.Enqueue((t, Sender));
            Next();
        });
        Receive<Computed>(OnComputed);
        Receive<Refused>(r =>
        {
            _log.Warning(LogFields.ForTraining(r.Task.JobId, r.Task.Step), $"cannot compute chunks from {r.Task.FirstChunk}: {r.Reason}");
            r.ReplyTo.Tell(new GradientRefused(r.Task.JobId, r.Task.Step, r.Task.FirstChunk, _node, r.Reason));
            _busy = false;
            Next();
        });
    }

    protected override void PreStart()
    {
        Timers.StartPeriodicTimer("announce", Announce.Instance, TimeSpan.FromSeconds(0.2), TimeSpan.FromSeconds(2));
    }

    protected override void PostStop()
    {
        _backend?.Backend.Dispose();
    }

    private void OnWeightsPart(WeightsPart part)
    {
        // One step is under way at a time: parts of any other step will never be completed.
        foreach (var key in _weightParts.Keys.Where(k => k != (part.JobId, part.Step)).ToList()) _weightParts.Remove(key);
        if (!_weightParts.TryGetValue((part.JobId, part.Step), out var weights) || weights.Length != part.Total)
        {
            weights = new float[part.Total];
            _weightParts[(part.JobId, part.Step)] = weights;
        }
        if (part.Offset < 0 || part.Offset + part.Values.Length > part.Total) return;
        part.Values.CopyTo(weights, part.Offset);
    }

    private void Next()
    {
        if (_busy) return;
        while (_queue.TryDequeue(out var item))
        {
            // A queued task of another step than its training's latest is stale: the coordinator has moved on, or a
            // restarted coordinator went back to its checkpoint (so "older" is not "stale": the latest is what counts).
            if (item.Task.Step != _latestStep[item.Task.JobId]) continue;
            Start(item.Task, item.ReplyTo);
            return;
        }
    }

    private void Start(GradientTask task, IActorRef replyTo)
    {
        _busy = true;
        var self = Self;
        float[] weights;
        if (task.WeightsOffset == 0 && task.Weights.Length == task.WeightsTotal)
        {
            weights = task.Weights;
        }
        else if (_weightParts.TryGetValue((task.JobId, task.Step), out var parts) && parts.Length == task.WeightsTotal
                 && task.WeightsOffset + task.Weights.Length == task.WeightsTotal)
        {
            task.Weights.CopyTo(parts, task.WeightsOffset);
            weights = parts;
        }
        else
        {
            self.Tell(new Refused(task, replyTo, $"weights parts of step {task.Step} are missing"));
            return;
        }
        // Replicas stay identical: the weights must be the version the coordinator holds.
        var sha = FloatBytes.Sha256Hex(weights);
        if (sha != task.WeightsSha256)
        {
            self.Tell(new Refused(task, replyTo, $"the weights received hash to {sha[..12]}, the version is {task.WeightsSha256[..Math.Min(12, task.WeightsSha256.Length)]}"));
            return;
        }
        IComputeBackend backend;
        try
        {
            backend = BackendFor(task.Preset, task.BoxSize);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            self.Tell(new Refused(task, replyTo, e.Message));
            return;
        }
        var set = TrainingSet(task.TrainingSet);
        var loss = LossNames.Parse(task.Loss);
        _ = Task.Run(async () =>
        {
            var data = await set;
            var watch = Stopwatch.StartNew();
            var samples = new Sample[task.Boxes.Length];
            for (var i = 0; i < samples.Length; i++)
            {
                if ((uint)task.Boxes[i] >= (uint)data.Count) throw new ArgumentException($"box {task.Boxes[i]} is not in the training set of {data.Count}");
                samples[i] = new Sample(task.Boxes[i], task.Rotations[i]);
            }
            var pixels = data.BoxSize * data.BoxSize;
            var boxes = new float[samples.Length * pixels];
            var targets = new float[samples.Length];
            TrainingRun.Assemble(data, samples, boxes, targets);
            var chunks = GradientChunks.Count(samples.Length);
            var n = backend.Architecture.ParameterCount;
            var gradients = new float[chunks * n];
            var losses = new double[chunks];
            backend.ChunkGradients(weights, boxes, targets, samples.Length, loss, gradients, losses);
            return new Computed(task, replyTo, gradients, losses, watch.Elapsed.TotalSeconds);
        }).ContinueWith(t => t.IsCompletedSuccessfully
            ? (object)t.Result
            : new Refused(task, replyTo, t.Exception?.GetBaseException().Message ?? "cancelled"), TaskScheduler.Default).PipeTo(self);
    }

    private void OnComputed(Computed c)
    {
        var task = c.Task;
        _metrics.GradientSliceSeconds.Observe(c.Seconds);
        var per = _settings.FloatsPerMessage;
        var chunks = c.Losses.Length;
        for (var offset = 0; offset < c.Gradients.Length || offset == 0; offset += per)
        {
            var count = Math.Min(per, c.Gradients.Length - offset);
            c.ReplyTo.Tell(new GradientPart(task.JobId, task.Step, task.FirstChunk, chunks, offset, c.Gradients.Length,
                c.Gradients.AsSpan(offset, count).ToArray(), c.Losses, _node, c.Seconds));
            if (count <= 0) break;
        }
        _busy = false;
        Next();
    }

    private IComputeBackend BackendFor(string preset, int boxSize)
    {
        var key = $"{preset}@{boxSize}";
        if (_backend is { } b && b.Key == key) return b.Backend;
        _backend?.Backend.Dispose();
        var architecture = Presets.Create(preset, boxSize);
        var device = TrainingDevice.For(architecture, _device);
        var onCpu = device != _device;
        var backend = BackendFactory.Create(architecture, device);
        _backend = (key, backend);
        _log.Info(default, $"training on {backend.Device} ({key}){(onCpu ? $"; batch normalisation trains on the CPU, not on this node's --device {_device.ToString().ToLowerInvariant()}" : "")}");
        return backend;
    }

    private Task<BoxSet> TrainingSet(BlobRef set)
    {
        if (_sets.TryGetValue(set.Sha256, out var loaded) && !loaded.IsFaulted) return loaded;
        // One training set at a time is kept (they can be large).
        _sets.Clear();
        var loading = Task.Run(async () => BoxSetFile.FromBytes(await _blobs.GetAsync(set.Sha256, set.Path, set.Length), set.Path));
        _sets[set.Sha256] = loading;
        return loading;
    }
}
