using System.Diagnostics;
using Akka.Actor;
using Akka.Persistence;
using DeepEM.Cluster.Models;
using DeepEM.Cluster.Diagnostics;
using DeepEM.Cluster.Protocol;
using DeepEM.Cluster.Serialization;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Training;

namespace DeepEM.Cluster.Training;

/// <summary>
/// The training coordinator: a cluster singleton on the coordinator role, persistent through the journal. It owns
/// each training's weights, momentum and batch order (a <see cref="TrainingRun"/>), trains one job at a time in
/// submission order, and for each step splits the batch's chunks of 16 boxes into contiguous slices, one per
/// gradient worker, sending each the current weights and its samples. The chunk gradients that come back are added
/// in chunk order, exactly as one process adds them, so the weights do not depend on how many nodes helped, nor on
/// which node computed what. A slice whose worker dies, refuses or does not answer in time goes to another worker;
/// a slice's answer is used once, whoever sends it. Each epoch ends with validation here. Every
/// <see cref="TrainingSettings.CheckpointEvery"/> steps, and after each epoch, the run is written to a checkpoint
/// file and a journal entry names it; a restarted coordinator goes on from the last one.
/// </summary>
public sealed class TrainingCoordinator : ReceivePersistentActor, IWithTimers
{
    public const string PersistenceIdValue = "deepem-training-coordinator";

    /// <summary>Stops the singleton on hand-over after whatever is being persisted.</summary>
    public sealed class Stop : INoSerializationVerificationNeeded
    {
        public static readonly Stop Instance = new();
    }

    private sealed class Tick : INoSerializationVerificationNeeded
    {
        public static readonly Tick Instance = new();
    }

    private sealed class StartNext : INoSerializationVerificationNeeded
    {
        public static readonly StartNext Instance = new();
    }

    // Messages to itself (results of work done off the actor's thread): never serialized.
    private sealed record EpochValidated(string JobId, EpochReport Report) : INoSerializationVerificationNeeded;

    private sealed record Finalized(string JobId, TrainingResult Result) : INoSerializationVerificationNeeded;

    private sealed record ActiveFailed(string JobId, string Reason) : INoSerializationVerificationNeeded;

    private sealed class Slice(int first, int count)
    {
        public int First { get; } = first;
        public int Count { get; } = count;
        public IActorRef? Worker { get; set; }
        public DateTime SentAt { get; set; }
        public bool Done { get; set; }
        public double ComputeSeconds { get; set; }
        public int Refusals { get; set; }
        public Dictionary<IActorRef, (float[] Values, int Filled)> Parts { get; } = [];
    }

    /// <summary>The training under way and the step being computed.</summary>
    private sealed class Active(TrainingSpec spec, TrainingRun run, IComputeBackend validation)
    {
        public TrainingSpec Spec { get; } = spec;
        public TrainingRun Run { get; } = run;
        public IComputeBackend Validation { get; } = validation;
        public long Step { get; set; }
        public Sample[] Batch { get; set; } = [];
        public float[]?[] ChunkGradients { get; set; } = [];
        public double[] ChunkLosses { get; set; } = [];
        public List<Slice> Slices { get; } = [];
        public float[] Weights { get; set; } = [];
        public string WeightsSha { get; set; } = "";
        public bool Busy { get; set; } // validating or finishing: no step under way
        public Stopwatch StepWatch { get; } = new();
        public Stopwatch EpochWatch { get; } = Stopwatch.StartNew();
        public Stopwatch Elapsed { get; } = Stopwatch.StartNew();
        public long StepBytes { get; set; }
        public long Steps, TotalBytes;
        public double TotalStepSeconds, TotalComputeSeconds;
        public int WorkersUsed { get; set; }

        public TrainingTraffic Traffic() => Steps == 0
            ? new TrainingTraffic(0, 0, 0, 0, 0, WorkersUsed)
            : new TrainingTraffic(Steps, TotalStepSeconds / Steps, TotalComputeSeconds / Steps, Math.Max(0, (TotalStepSeconds - TotalComputeSeconds) / Steps),
                TotalBytes / Steps, WorkersUsed);
    }

    private readonly NodeLog _log = new(Context);
    private readonly NodeMetrics _metrics = NodeMetrics.For(Context.System);
    private readonly TrainingSettings _settings;
    private readonly IBlobStore _blobs;
    private readonly string _checkpoints;
    private readonly DeviceChoice _validationDevice;
    private readonly List<TrainingSpec> _jobs = [];
    private readonly Dictionary<string, TrainingFinished> _finished = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TrainingCheckpointed> _lastCheckpoint = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<IActorRef>> _followers = new(StringComparer.Ordinal);
    private readonly Dictionary<IActorRef, string> _workers = [];

    /// <summary>
    /// Workers that let a slice time out get no new slices until they announce themselves again (a live worker does
    /// every 2 s): a killed node's worker stays registered until the cluster removes its node, and every step would
    /// otherwise wait for the timeout.
    /// </summary>
    private readonly HashSet<IActorRef> _suspects = [];
    private Active? _active;

    public ITimerScheduler Timers { get; set; } = null!;

    public override string PersistenceId => PersistenceIdValue;

    public static Props Props(TrainingSettings settings, IBlobStore blobs, string checkpointFolder, DeviceChoice validationDevice) =>
        Akka.Actor.Props.Create(() => new TrainingCoordinator(settings, blobs, checkpointFolder, validationDevice));

    public TrainingCoordinator(TrainingSettings settings, IBlobStore blobs, string checkpointFolder, DeviceChoice validationDevice)
    {
        _settings = settings;
        _blobs = blobs;
        _checkpoints = checkpointFolder;
        _validationDevice = validationDevice;

        Recover<TrainingSubmitted>(e => _jobs.Add(e.Spec));
        Recover<TrainingCheckpointed>(e => _lastCheckpoint[e.JobId] = e);
        Recover<TrainingFinished>(e => _finished[e.JobId] = e);
        Recover<RecoveryCompleted>(_ =>
        {
            _log.Info(default, $"training coordinator recovered {_jobs.Count} trainings ({_finished.Count} finished) at sequence number {LastSequenceNr}");
            Timers.StartPeriodicTimer("tick", Tick.Instance, TimeSpan.FromSeconds(1));
            Self.Tell(StartNext.Instance);
        });

        Command<SubmitTraining>(Submit);
        Command<FollowTraining>(Follow);
        Command<RegisterTrainer>(Register);
        Command<GetTrainers>(_ => Sender.Tell(new Trainers([.. _workers.Values.Order(StringComparer.Ordinal)])));
        Command<GradientPart>(OnGradientPart);
        Command<GradientRefused>(OnRefused);
        Command<FetchModelChunk>(ServeBlob);
        Command<Terminated>(OnTerminated);
        Command<Tick>(_ => OnTick());
        Command<StartNext>(_ => StartNextJob());
        Command<EpochValidated>(OnEpochValidated);
        Command<Finalized>(OnFinalized);
        Command<ActiveFailed>(OnActiveFailed);
        Command<Stop>(_ => Context.Stop(Self));
    }

    protected override void PostStop()
    {
        _active?.Validation.Dispose();
        base.PostStop();
    }

    // ---- clients ----

    private void Submit(SubmitTraining message)
    {
        var spec = message.Spec;
        if (_jobs.Any(j => j.JobId == spec.JobId))
        {
            // A training that could not go on (its inputs were unreadable) is tried again when it is submitted again.
            if (_failedJobs.Remove(spec.JobId)) Self.Tell(StartNext.Instance);
            var step = _finished.ContainsKey(spec.JobId) ? 0 : _active?.Spec.JobId == spec.JobId ? _active.Step : _lastCheckpoint.GetValueOrDefault(spec.JobId)?.Step ?? 0;
            Sender.Tell(new TrainingAccepted(spec.JobId, Resumed: true, step, TotalSteps(spec), _workers.Count));
            return;
        }
        try
        {
            // The id names the training's checkpoint files in the state folder.
            NetworkNames.CheckFileName("training id", spec.JobId);
            var architecture = Presets.Create(spec.Preset, spec.BoxSize);
            LossNames.Parse(spec.Loss);
            if (spec.Epochs < 1 || spec.BatchSize < 1) throw new ArgumentException($"{spec.Epochs} epochs of batch {spec.BatchSize}: both must be positive");
            // Copies of the inputs in the state folder: workers that cannot read the client's paths fetch them from
            // here, and a restarted coordinator still has them.
            _blobs.Register(spec.TrainingSet.Path, spec.TrainingSet.Sha256);
            if (spec.InitialParameters is { } init)
            {
                _blobs.Register(init.Path, init.Sha256);
                if (init.Length != 4L * architecture.ParameterCount)
                    throw new ArgumentException($"{init.Path}: {init.Length / 4} initial parameters for a network of {architecture.ParameterCount}");
            }
        }
        catch (ArgumentException e)
        {
            Sender.Tell(new TrainingRejected(spec.JobId, e.Message));
            return;
        }
        catch (IOException e)
        {
            Sender.Tell(new TrainingRejected(spec.JobId, e.Message));
            return;
        }
        var client = Sender;
        Persist(new TrainingSubmitted(spec), e =>
        {
            _jobs.Add(e.Spec);
            _log.Info(LogFields.ForTraining(spec.JobId), $"submitted: {spec.Preset} on {spec.BoxSize} px boxes, {spec.Epochs} epochs of batch {spec.BatchSize}");
            client.Tell(new TrainingAccepted(spec.JobId, Resumed: false, 0, TotalSteps(spec), _workers.Count));
            Self.Tell(StartNext.Instance);
        });
    }

    /// <summary>Known once the training has started (it depends on the training set); 0 before.</summary>
    private long TotalSteps(TrainingSpec spec) => _active?.Spec.JobId == spec.JobId ? _active.Run.TotalSteps : 0;

    private void Follow(FollowTraining message)
    {
        if (!_followers.TryGetValue(message.JobId, out var followers))
        {
            followers = [];
            _followers[message.JobId] = followers;
        }
        var known = !followers.Add(Sender);
        if (!known) Context.Watch(Sender);
        if (_finished.TryGetValue(message.JobId, out var finished))
        {
            foreach (var e in finished.Epochs) Sender.Tell(new TrainingProgress(message.JobId, e, finished.Traffic));
            Sender.Tell(finished);
        }
        else if (!known && _active?.Spec.JobId == message.JobId && !_active.Busy)
        {
            foreach (var e in _active.Run.Reports) Sender.Tell(new TrainingProgress(message.JobId, e, _active.Traffic()));
        }
    }

    private void Tell(string jobId, object message)
    {
        if (_followers.TryGetValue(jobId, out var followers))
            foreach (var f in followers) f.Tell(message);
    }

    // ---- workers ----

    private void Register(RegisterTrainer message)
    {
        _suspects.Remove(Sender);
        if (_workers.ContainsKey(Sender)) return;
        _workers[Sender] = message.Node;
        Context.Watch(Sender);
        _log.Info(default, $"gradient worker on {message.Node} ({message.Device}) joined: {_workers.Count} workers");
        // A worker that joins gets slices from the next step on; one that arrives while a step waits for any worker
        // gets that step.
        if (_active is { Busy: false } a && a.Slices.Count > 0 && a.Slices.All(s => s.Worker is null)) Assign(a);
    }

    private void OnTerminated(Terminated t)
    {
        foreach (var followers in _followers.Values) followers.Remove(t.ActorRef);
        _suspects.Remove(t.ActorRef);
        if (!_workers.Remove(t.ActorRef, out var node)) return;
        _log.Warning(default, $"gradient worker on {node} is gone: {_workers.Count} workers");
        if (_active is not { Busy: false } a) return;
        foreach (var slice in a.Slices.Where(s => !s.Done && Equals(s.Worker, t.ActorRef))) Resend(a, slice, t.ActorRef);
    }

    private void OnTick()
    {
        if (_active is not { Busy: false } a) return;
        var now = DateTime.UtcNow;
        foreach (var slice in a.Slices.Where(s => !s.Done))
        {
            if (slice.Worker is null) Resend(a, slice, null);
            else if (now - slice.SentAt > _settings.StepTimeout)
            {
                _log.Warning(LogFields.ForTraining(a.Spec.JobId, a.Step),
                    $"chunks {slice.First}..{slice.First + slice.Count - 1} not back from {_workers.GetValueOrDefault(slice.Worker, "a worker that left")} after {_settings.StepTimeout.TotalSeconds:0} s: sent elsewhere");
                _suspects.Add(slice.Worker);
                Resend(a, slice, slice.Worker);
            }
        }
    }

    // ---- the steps ----

    private void StartNextJob()
    {
        if (_active is not null) return;
        var next = _jobs.FirstOrDefault(j => !_finished.ContainsKey(j.JobId) && !_failedJobs.Contains(j.JobId));
        if (next is null) return;
        try
        {
            var architecture = Presets.Create(next.Preset, next.BoxSize);
            var data = BoxSetFile.FromBytes(ReadBlob(next.TrainingSet), next.TrainingSet.Path);
            var init = next.InitialParameters is { } i ? FloatBytes.FromBytes(ReadBlob(i), i.Path) : null;
            TrainingCheckpoint? resume = null;
            if (_lastCheckpoint.TryGetValue(next.JobId, out var ck))
            {
                resume = ClusterMessageSerializer.CheckpointFromBytes(File.ReadAllBytes(ck.Checkpoint.Path)).Checkpoint;
            }
            var options = new TrainingOptions
            {
                Epochs = next.Epochs, BatchSize = next.BatchSize, LearningRate = next.LearningRate, Momentum = next.Momentum,
                Loss = LossNames.Parse(next.Loss), ValidationFraction = next.ValidationFraction, Seed = next.Seed,
            };
            var run = new TrainingRun(architecture, data, options, init, resume);
            var validation = BackendFactory.Create(architecture, _validationDevice);
            _active = new Active(next, run, validation) { Step = run.Step };
            _log.Info(LogFields.ForTraining(next.JobId, run.Step),
                $"{run.TotalSteps} steps of {options.BatchSize} boxes ({options.Epochs} epochs){(resume is null ? "" : $", resumed after step {run.Step}")}; validating on {validation.Device}");
        }
        catch (Exception e) when (e is ArgumentException or IOException or InvalidOperationException or Google.Protobuf.InvalidProtocolBufferException)
        {
            Self.Tell(new ActiveFailed(next.JobId, e.Message));
            return;
        }
        NextStep(_active);
    }

    private readonly HashSet<string> _failedJobs = new(StringComparer.Ordinal);

    /// <summary>A training whose inputs or validation failed stops (its followers are told why) and the next one starts.</summary>
    private void OnActiveFailed(ActiveFailed failed)
    {
        _log.Error(LogFields.ForTraining(failed.JobId), $"cannot go on: {failed.Reason}");
        _failedJobs.Add(failed.JobId);
        Tell(failed.JobId, new TrainingRejected(failed.JobId, failed.Reason));
        if (_active?.Spec.JobId == failed.JobId)
        {
            _active.Validation.Dispose();
            _active = null;
        }
        Self.Tell(StartNext.Instance);
    }

    private byte[] ReadBlob(BlobRef blob)
    {
        var first = _blobs.Read(blob.Sha256, 0, int.MaxValue) ?? throw new IOException($"the coordinator holds no copy of {blob.Path} ({blob.Sha256[..12]})");
        return first.Data;
    }

    private void NextStep(Active a)
    {
        var run = a.Run;
        if (run.Finished)
        {
            Finish(a);
            return;
        }
        if (run.EpochComplete)
        {
            a.Busy = true;
            var epochTime = a.EpochWatch.Elapsed;
            var elapsed = a.Elapsed.Elapsed;
            var self = Self;
            var jobId = a.Spec.JobId;
            Task.Run(() => run.FinishEpoch(a.Validation, epochTime, elapsed))
                .ContinueWith(t => t.IsCompletedSuccessfully ? (object)new EpochValidated(jobId, t.Result) : new ActiveFailed(jobId, t.Exception!.GetBaseException().Message),
                    TaskScheduler.Default)
                .PipeTo(self);
            return;
        }
        a.Step = run.Step;
        a.Batch = run.NextBatch().ToArray();
        var chunks = GradientChunks.Count(a.Batch.Length);
        a.ChunkGradients = new float[chunks][];
        a.ChunkLosses = new double[chunks];
        a.Weights = run.Parameters;
        a.WeightsSha = FloatBytes.Sha256Hex(a.Weights);
        a.Slices.Clear();
        a.StepBytes = 0;
        a.StepWatch.Restart();
        // Contiguous slices of whole chunks, as many as there are workers (or chunks).
        var k = Math.Max(1, Math.Min(Available().Count(), chunks));
        var first = 0;
        for (var i = 0; i < k; i++)
        {
            var count = chunks / k + (i < chunks % k ? 1 : 0);
            a.Slices.Add(new Slice(first, count));
            first += count;
        }
        Assign(a);
    }

    private void Assign(Active a)
    {
        var workers = Available().OrderBy(w => _workers[w], StringComparer.Ordinal).ToList();
        if (workers.Count == 0)
        {
            _log.Debug(LogFields.ForTraining(a.Spec.JobId, a.Step), $"waits for a gradient worker");
            return;
        }
        a.WorkersUsed = Math.Max(a.WorkersUsed, Math.Min(workers.Count, a.Slices.Count));
        for (var i = 0; i < a.Slices.Count; i++)
        {
            if (a.Slices[i].Worker is null && !a.Slices[i].Done) Send(a, a.Slices[i], workers[i % workers.Count]);
        }
    }

    /// <summary>The slice goes to the worker with the fewest open slices, other than the one that failed it if possible.</summary>
    private void Resend(Active a, Slice slice, IActorRef? failed)
    {
        var candidates = Available().Where(w => !Equals(w, failed)).ToList();
        if (candidates.Count == 0) candidates = Available().ToList();
        if (candidates.Count == 0)
        {
            slice.Worker = null;
            return;
        }
        var worker = candidates.OrderBy(w => a.Slices.Count(s => !s.Done && Equals(s.Worker, w))).ThenBy(w => _workers[w], StringComparer.Ordinal).First();
        Send(a, slice, worker);
    }

    /// <summary>Registered workers, less the suspects (all of them when every one is suspect).</summary>
    private IEnumerable<IActorRef> Available()
    {
        var trusted = _workers.Keys.Where(w => !_suspects.Contains(w)).ToList();
        return trusted.Count > 0 ? trusted : _workers.Keys;
    }

    private void Send(Active a, Slice slice, IActorRef worker)
    {
        slice.Worker = worker;
        slice.SentAt = DateTime.UtcNow;
        var per = _settings.FloatsPerMessage;
        var weights = a.Weights;
        // Weights over one message go ahead in parts; the task carries the last part.
        var lastOffset = weights.Length == 0 ? 0 : (weights.Length - 1) / per * per;
        for (var offset = 0; offset < lastOffset; offset += per)
        {
            worker.Tell(new WeightsPart(a.Spec.JobId, a.Step, offset, weights.Length, weights.AsSpan(offset, per).ToArray()));
        }
        var start = slice.First * GradientChunks.Size;
        var end = Math.Min(a.Batch.Length, (slice.First + slice.Count) * GradientChunks.Size);
        var samples = a.Batch.AsSpan(start, end - start);
        var boxes = new int[samples.Length];
        var rotations = new int[samples.Length];
        for (var i = 0; i < samples.Length; i++)
        {
            boxes[i] = samples[i].Box;
            rotations[i] = samples[i].Rotation;
        }
        worker.Tell(new GradientTask(a.Spec.JobId, a.Step, a.Spec.Preset, a.Spec.BoxSize, a.Spec.Loss, a.Spec.TrainingSet, a.WeightsSha,
            lastOffset, weights.Length, weights.AsSpan(lastOffset).ToArray(), slice.First, boxes, rotations));
        a.StepBytes += 4L * weights.Length + 8L * samples.Length;
    }

    private void OnGradientPart(GradientPart part)
    {
        if (_active is not { Busy: false } a || part.JobId != a.Spec.JobId || part.Step != a.Step) return;
        var slice = a.Slices.FirstOrDefault(s => s.First == part.FirstChunk);
        var n = a.Run.Architecture.ParameterCount;
        if (slice is null || slice.Done || part.Chunks != slice.Count || part.Total != slice.Count * n || part.Losses.Length != slice.Count
            || part.Offset < 0 || part.Offset + part.Values.Length > part.Total)
        {
            return;
        }
        if (!slice.Parts.TryGetValue(Sender, out var buffer)) buffer = (new float[part.Total], 0);
        part.Values.CopyTo(buffer.Values, part.Offset);
        buffer.Filled += part.Values.Length;
        slice.Parts[Sender] = buffer;
        a.StepBytes += 4L * part.Values.Length + 8L * part.Losses.Length;
        if (buffer.Filled < part.Total) return;

        // The slice's answer, used once.
        slice.Done = true;
        slice.ComputeSeconds = part.ComputeSeconds;
        slice.Parts.Clear();
        for (var c = 0; c < slice.Count; c++)
        {
            a.ChunkGradients[slice.First + c] = buffer.Values.AsSpan(c * n, n).ToArray();
            a.ChunkLosses[slice.First + c] = part.Losses[c];
        }
        if (a.Slices.All(s => s.Done)) Apply(a);
    }

    private void OnRefused(GradientRefused refused)
    {
        if (_active is not { Busy: false } a || refused.JobId != a.Spec.JobId || refused.Step != a.Step) return;
        _log.Warning(LogFields.ForTraining(a.Spec.JobId, a.Step), $"{refused.Node} refused chunks from {refused.FirstChunk}: {refused.Reason}");
        var slice = a.Slices.FirstOrDefault(s => s.First == refused.FirstChunk && !s.Done && Equals(s.Worker, Sender));
        if (slice is null) return;
        // A slice that every worker refuses again and again (a training set no node can read) fails the training
        // rather than going round for ever.
        if (++slice.Refusals >= MaxRefusals * Math.Max(1, _workers.Count))
        {
            a.Busy = true;
            Self.Tell(new ActiveFailed(a.Spec.JobId, $"step {a.Step}: {refused.Node}: {refused.Reason}"));
            return;
        }
        Resend(a, slice, Sender);
    }

    /// <summary>Refusals of one slice per worker after which the training stops.</summary>
    private const int MaxRefusals = 3;

    private void Apply(Active a)
    {
        // The chunks in order, from zero: the same additions as one process makes.
        var n = a.Run.Architecture.ParameterCount;
        var sum = new float[n];
        double loss = 0;
        for (var c = 0; c < a.ChunkGradients.Length; c++)
        {
            var g = a.ChunkGradients[c]!;
            for (var i = 0; i < n; i++) sum[i] += g[i];
            loss += a.ChunkLosses[c];
        }
        a.Run.ApplyGradient(sum, loss, a.Batch.Length);
        a.Steps++;
        a.TotalBytes += a.StepBytes;
        a.TotalStepSeconds += a.StepWatch.Elapsed.TotalSeconds;
        _metrics.TrainingStepSeconds.Observe(a.StepWatch.Elapsed.TotalSeconds);
        _metrics.TrainingStep.WithLabels(a.Spec.JobId).Set(a.Run.Step);
        a.TotalComputeSeconds += a.Slices.Max(s => s.ComputeSeconds);
        if (a.Run.Step % _settings.CheckpointEvery == 0 && !a.Run.EpochComplete) Checkpoint(a);
        NextStep(a);
    }

    private void OnEpochValidated(EpochValidated message)
    {
        if (_active is not { } a || a.Spec.JobId != message.JobId) return;
        a.Busy = false;
        a.EpochWatch.Restart();
        var r = message.Report;
        _log.Info(LogFields.ForTraining(a.Spec.JobId, a.Run.Step), $"epoch {r.Epoch}/{r.Epochs}: loss {r.TrainingLoss:0.0000}, validation accuracy {r.ValidationAccuracy:0.0000}");
        Tell(a.Spec.JobId, new TrainingProgress(a.Spec.JobId, r, a.Traffic()));
        Checkpoint(a);
        NextStep(a);
    }

    private void Checkpoint(Active a)
    {
        var jobId = a.Spec.JobId;
        var step = a.Run.Step;
        var bytes = ClusterMessageSerializer.CheckpointToBytes(new CheckpointFile(jobId, a.Run.Checkpoint()));
        var path = Path.Combine(_checkpoints, $"{jobId}-{step:D8}.ckpt");
        Directory.CreateDirectory(_checkpoints);
        DeepEM.Formats.IO.AtomicFile.WriteAllBytes(path, bytes);
        var previous = _lastCheckpoint.GetValueOrDefault(jobId);
        Persist(new TrainingCheckpointed(jobId, step, new BlobRef(HashedFiles.Sha256Hex(bytes), path, bytes.Length)), e =>
        {
            _lastCheckpoint[jobId] = e;
            if (previous is not null && previous.Checkpoint.Path != path) TryDelete(previous.Checkpoint.Path);
        });
    }

    private void Finish(Active a)
    {
        a.Busy = true;
        var self = Self;
        var jobId = a.Spec.JobId;
        Task.Run(() => a.Run.Result(a.Validation))
            .ContinueWith(t => t.IsCompletedSuccessfully ? (object)new Finalized(jobId, t.Result) : new ActiveFailed(jobId, t.Exception!.GetBaseException().Message),
                TaskScheduler.Default)
            .PipeTo(self);
    }

    private void OnFinalized(Finalized message)
    {
        if (_active is not { } a || a.Spec.JobId != message.JobId) return;
        var result = message.Result;
        var bytes = FloatBytes.ToBytes(result.Parameters);
        var path = Path.Combine(_checkpoints, $"{a.Spec.JobId}.parameters");
        Directory.CreateDirectory(_checkpoints);
        DeepEM.Formats.IO.AtomicFile.WriteAllBytes(path, bytes);
        var sha = HashedFiles.Sha256Hex(bytes);
        try
        {
            _blobs.Register(path, sha);
        }
        catch (ArgumentException e)
        {
            _log.Error(LogFields.ForTraining(a.Spec.JobId), $"{e.Message}");
        }
        var finished = new TrainingFinished(a.Spec.JobId, new BlobRef(sha, path, bytes.Length), result.BestEpoch, result.ValidationLoss,
            result.ValidationAccuracy, result.Threshold, result.TrainingBoxes, result.ValidationBoxes, result.Epochs, a.Traffic(),
            DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var traffic = a.Traffic();
        Persist(finished, e =>
        {
            _finished[e.JobId] = e;
            if (_lastCheckpoint.Remove(e.JobId, out var last)) TryDelete(last.Checkpoint.Path);
            _log.Info(LogFields.ForTraining(e.JobId),
                $"finished: best epoch {e.BestEpoch}, validation accuracy {e.ValidationAccuracy:0.0000}; {traffic.Steps} steps here, {traffic.StepSeconds:0.000} s each ({traffic.ComputeSeconds:0.000} s computing), {traffic.BytesPerStep} bytes each");
            Tell(e.JobId, e);
            a.Validation.Dispose();
            _active = null;
            Self.Tell(StartNext.Instance);
        });
    }

    private void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException e)
        {
            _log.Warning(default, $"could not delete old checkpoint {path}: {e.Message}");
        }
    }

    private void ServeBlob(FetchModelChunk message) =>
        Sender.Tell(Models.BlobChunks.Answer(_blobs, message, _settings.MessageBytes));
}
