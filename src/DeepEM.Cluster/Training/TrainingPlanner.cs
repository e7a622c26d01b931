using DeepEM.Cluster.Protocol;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Training;

namespace DeepEM.Cluster.Training;

/// <summary>What the coordinator does after a step or an epoch: send the next step's slices, validate the epoch, or finish.</summary>
internal enum TrainingNext
{
    Step,
    Validate,
    Finish,
}

/// <summary>
/// Everything the training coordinator decides, without an actor: the trainings in submission order as the journal
/// tells them (<see cref="Apply(TrainingSubmitted)"/> and its overloads, on recovery and after each write), which one
/// runs next, the gradient workers and the suspects among them, and the training under way, one step at a time
/// (<see cref="StepPlan{TWorker}"/>). It reads no file and sends nothing: the messages it decides on wait in
/// <see cref="TakeSends"/>, the warnings in <see cref="TakeWarnings"/>, and the actor sends and logs them. Time comes
/// from <see cref="TimeProvider"/>, so a test can drive timeouts step by step.
/// </summary>
internal sealed class TrainingPlanner<TWorker>(TrainingSettings settings, TimeProvider time) where TWorker : class
{
    /// <summary>Refusals of one slice per worker after which the training stops (a training set no node can read).</summary>
    public const int MaxRefusals = 3;

    /// <summary>The training under way: its run (owned by the planner except while <see cref="Busy"/>), its step and its traffic.</summary>
    public sealed class ActiveTraining(TrainingSpec spec, TrainingRun run, DateTimeOffset started)
    {
        public TrainingSpec Spec { get; } = spec;
        public TrainingRun Run { get; } = run;

        /// <summary>Validating or finishing off the actor's thread: no step under way, the run not to be touched.</summary>
        public bool Busy { get; internal set; }

        public StepPlan<TWorker>? Step { get; internal set; }
        public DateTimeOffset Started { get; } = started;
        public DateTimeOffset EpochStarted { get; internal set; } = started;

        /// <summary>The epoch's time and the training's so far, when <see cref="Advance"/> last said to validate.</summary>
        public (TimeSpan Epoch, TimeSpan Elapsed) EpochTimes { get; internal set; }
        public double LastStepSeconds { get; internal set; }
        internal long Steps, TotalBytes;
        internal double TotalStepSeconds, TotalComputeSeconds;
        internal int WorkersUsed;

        public TrainingTraffic Traffic() => Steps == 0
            ? new TrainingTraffic(0, 0, 0, 0, 0, WorkersUsed)
            : new TrainingTraffic(Steps, TotalStepSeconds / Steps, TotalComputeSeconds / Steps, Math.Max(0, (TotalStepSeconds - TotalComputeSeconds) / Steps),
                TotalBytes / Steps, WorkersUsed);
    }

    private readonly List<TrainingSpec> _jobs = [];
    private readonly Dictionary<string, TrainingFinished> _finished = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TrainingCheckpointed> _lastCheckpoint = new(StringComparer.Ordinal);
    private readonly HashSet<string> _failed = new(StringComparer.Ordinal);
    private string? _preparing;
    private readonly Dictionary<TWorker, string> _workers = [];

    /// <summary>
    /// Workers that let a slice time out get no new slices until they announce themselves again (a live worker does
    /// every 2 s): a killed node's worker stays registered until the cluster removes its node, and every step would
    /// otherwise wait for the timeout.
    /// </summary>
    private readonly HashSet<TWorker> _suspects = [];

    private List<Send<TWorker>> _sends = [];
    private List<string> _warnings = [];

    public ActiveTraining? Active { get; private set; }

    public int Trainings => _jobs.Count;

    public int FinishedCount => _finished.Count;

    public int WorkerCount => _workers.Count;

    /// <summary>The nodes of the registered workers, in order.</summary>
    public IReadOnlyList<string> Nodes => [.. _workers.Values.Order(StringComparer.Ordinal)];

    public string? NodeOf(TWorker worker) => _workers.GetValueOrDefault(worker);

    public TrainingFinished? FinishedOf(string jobId) => _finished.GetValueOrDefault(jobId);

    public TrainingCheckpointed? LastCheckpoint(string jobId) => _lastCheckpoint.GetValueOrDefault(jobId);

    /// <summary>The messages decided since the last call, in order.</summary>
    public IReadOnlyList<Send<TWorker>> TakeSends() => Swap(ref _sends);

    /// <summary>What went wrong with workers since the last call (slices overdue), one line each.</summary>
    public IReadOnlyList<string> TakeWarnings() => Swap(ref _warnings);

    private static List<T> Swap<T>(ref List<T> list)
    {
        var taken = list;
        list = [];
        return taken;
    }

    // ---- the journal ----

    public void Apply(TrainingSubmitted e) => _jobs.Add(e.Spec);

    /// <summary>The checkpoint it replaces, when that is another file (to be deleted).</summary>
    public BlobRef? Apply(TrainingCheckpointed e)
    {
        var previous = _lastCheckpoint.GetValueOrDefault(e.JobId);
        _lastCheckpoint[e.JobId] = e;
        return previous is not null && previous.Checkpoint.Path != e.Checkpoint.Path ? previous.Checkpoint : null;
    }

    /// <summary>The training's last checkpoint, no longer needed (to be deleted); the training is over.</summary>
    public BlobRef? Apply(TrainingFinished e)
    {
        _finished[e.JobId] = e;
        if (Active?.Spec.JobId == e.JobId) Active = null;
        return _lastCheckpoint.Remove(e.JobId, out var last) ? last.Checkpoint : null;
    }

    // ---- clients ----

    /// <summary>
    /// The answer to a spec already submitted (null when it is new): it is followed where it stands, and one that
    /// failed is tried again (<paramref name="retry"/>).
    /// </summary>
    public TrainingAccepted? Known(TrainingSpec spec, out bool retry)
    {
        retry = false;
        if (!_jobs.Any(j => j.JobId == spec.JobId)) return null;
        retry = _failed.Remove(spec.JobId);
        var step = _finished.ContainsKey(spec.JobId) ? 0 : Active?.Spec.JobId == spec.JobId ? Active.Run.Step : _lastCheckpoint.GetValueOrDefault(spec.JobId)?.Step ?? 0;
        return new TrainingAccepted(spec.JobId, Resumed: true, step, TotalSteps(spec), _workers.Count);
    }

    /// <summary>
    /// What a new follower of the training is told at once: a finished training's every epoch and its end; a running
    /// training's epochs so far (to a follower it did not know: one that follows again has had them).
    /// </summary>
    public IReadOnlyList<IClusterMessage> Replay(string jobId, bool newFollower)
    {
        if (_finished.TryGetValue(jobId, out var finished)) return [.. finished.Epochs.Select(e => new TrainingProgress(jobId, e, finished.Traffic)), finished];
        if (newFollower && Active is { Busy: false } a && a.Spec.JobId == jobId) return [.. a.Run.Reports.Select(e => new TrainingProgress(jobId, e, a.Traffic()))];
        return [];
    }

    public TrainingAccepted Accepted(TrainingSpec spec) => new(spec.JobId, Resumed: false, 0, TotalSteps(spec), _workers.Count);

    /// <summary>Known once the training has started (it depends on the training set); 0 before.</summary>
    private long TotalSteps(TrainingSpec spec) => Active?.Spec.JobId == spec.JobId ? Active.Run.TotalSteps : 0;

    /// <summary>What is wrong with a new spec, in one line, or null; reads nothing (the inputs are checked when they are copied).</summary>
    public static string? Check(TrainingSpec spec)
    {
        try
        {
            // The id names the training's checkpoint files in the state folder.
            NetworkNames.CheckFileName("training id", spec.JobId);
            var architecture = Presets.Create(spec.Preset, spec.BoxSize);
            LossNames.Parse(spec.Loss);
            if (spec.Epochs < 1 || spec.BatchSize < 1) return $"{spec.Epochs} epochs of batch {spec.BatchSize}: both must be positive";
            if (spec.Symmetries is not (4 or 8)) return $"{spec.Symmetries} symmetries: 4 (rotations) or 8 (with mirror images)";
            if (spec.InitialParameters is { } init && init.Length != 4L * architecture.ParameterCount)
                return $"{init.Path}: {init.Length / 4} initial parameters for a network of {architecture.ParameterCount}";
            return null;
        }
        catch (ArgumentException e)
        {
            return e.Message;
        }
    }

    // ---- which training runs ----

    /// <summary>
    /// The first training neither finished nor failed, when none is under way or being prepared; it is being prepared
    /// (its inputs read) until <see cref="Start"/> or <see cref="Fail"/>.
    /// </summary>
    public TrainingSpec? NextJob()
    {
        if (Active is not null || _preparing is not null) return null;
        var next = _jobs.FirstOrDefault(j => !_finished.ContainsKey(j.JobId) && !_failed.Contains(j.JobId));
        _preparing = next?.JobId;
        return next;
    }

    /// <summary>The run of a training from its inputs and its last checkpoint (the caller reads them, off the actor's thread).</summary>
    public static TrainingRun CreateRun(TrainingSpec spec, BoxSet data, float[]? initialParameters, TrainingCheckpoint? resume) =>
        new(Presets.Create(spec.Preset, spec.BoxSize), data, OptionsOf(spec), initialParameters, resume);

    public static TrainingOptions OptionsOf(TrainingSpec spec) => new()
    {
        Epochs = spec.Epochs, BatchSize = spec.BatchSize, LearningRate = spec.LearningRate, Momentum = spec.Momentum,
        Loss = LossNames.Parse(spec.Loss), ValidationFraction = spec.ValidationFraction, Seed = spec.Seed,
        Symmetries = spec.Symmetries,
    };

    /// <summary>Begins the training (its run already at the checkpoint's step); <see cref="Advance"/> then plans its first step.</summary>
    public ActiveTraining Start(TrainingSpec spec, TrainingRun run)
    {
        if (Active is not null) throw new InvalidOperationException($"training {Active.Spec.JobId} is under way");
        _preparing = null;
        Active = new ActiveTraining(spec, run, time.GetUtcNow());
        return Active;
    }

    /// <summary>The training cannot go on (its inputs or its validation failed): it waits until it is submitted again.</summary>
    public void Fail(string jobId)
    {
        _failed.Add(jobId);
        if (_preparing == jobId) _preparing = null;
        if (Active?.Spec.JobId == jobId) Active = null;
    }

    /// <summary>
    /// After a step or an epoch: the next step's slices are planned and sent (<see cref="TrainingNext.Step"/>), or the
    /// epoch is to be validated or the training finished off the actor's thread, the run busy until
    /// <see cref="Validated"/> or <see cref="Apply(TrainingFinished)"/>.
    /// </summary>
    public TrainingNext Advance()
    {
        var a = Active ?? throw new InvalidOperationException("no training under way");
        if (a.Run.Finished || a.Run.EpochComplete)
        {
            a.Busy = true;
            a.Step = null;
            var now = time.GetUtcNow();
            a.EpochTimes = (now - a.EpochStarted, now - a.Started);
            return a.Run.Finished ? TrainingNext.Finish : TrainingNext.Validate;
        }
        var available = Available();
        a.Step = new StepPlan<TWorker>(a.Spec, a.Run.Step, a.Run.NextBatch().ToArray(), a.Run.Parameters, settings.FloatsPerMessage, available.Count,
            time.GetUtcNow());
        Assign(a, available);
        return TrainingNext.Step;
    }

    /// <summary>The epoch's validation is done: the run is the planner's again, and the next epoch's clock starts.</summary>
    public void Validated()
    {
        var a = Active ?? throw new InvalidOperationException("no training under way");
        a.Busy = false;
        a.EpochStarted = time.GetUtcNow();
    }

    /// <summary>Checkpoint between epochs every <see cref="TrainingSettings.CheckpointEvery"/> steps (an epoch's end has its own).</summary>
    public bool CheckpointDue => Active is { } a && a.Run.Step % settings.CheckpointEvery == 0 && !a.Run.EpochComplete && !a.Run.Finished;

    /// <summary>The run's state now, for the checkpoint file.</summary>
    public CheckpointFile Checkpoint()
    {
        var a = Active ?? throw new InvalidOperationException("no training under way");
        return new CheckpointFile(a.Spec.JobId, a.Run.Checkpoint());
    }

    private void Assign(ActiveTraining a, IReadOnlyList<TWorker> workers)
    {
        if (workers.Count == 0 || a.Step is not { } step) return;
        a.WorkersUsed = Math.Max(a.WorkersUsed, Math.Min(workers.Count, step.Slices.Count));
        step.Assign(workers, time.GetUtcNow(), _sends);
    }

    // ---- workers ----

    /// <summary>Registered workers, less the suspects (all of them when every one is suspect), in the order of their nodes.</summary>
    private List<TWorker> Available()
    {
        var trusted = _workers.Keys.Where(w => !_suspects.Contains(w)).ToList();
        var pool = trusted.Count > 0 ? trusted : [.. _workers.Keys];
        return [.. pool.OrderBy(w => _workers[w], StringComparer.Ordinal)];
    }

    /// <summary>
    /// A worker announced itself: it is no longer suspect; true when it is new. A worker that joins gets slices from the
    /// next step on; one that arrives while a step waits for any worker gets that step.
    /// </summary>
    public bool Register(TWorker worker, string node)
    {
        _suspects.Remove(worker);
        if (_workers.ContainsKey(worker)) return false;
        _workers[worker] = node;
        if (Active is { Busy: false, Step.Unassigned: true } a) Assign(a, Available());
        return true;
    }

    /// <summary>A worker is gone (its node left or died): its open slices go elsewhere. Its node, when it was registered.</summary>
    public string? Gone(TWorker worker)
    {
        _suspects.Remove(worker);
        if (!_workers.Remove(worker, out var node)) return null;
        if (Active is { Busy: false, Step: { } step }) step.Resend(worker, Available(), time.GetUtcNow(), _sends);
        return node;
    }

    /// <summary>Once a second: slices without a worker go out, slices overdue go elsewhere and their workers become suspect.</summary>
    public void Tick()
    {
        if (Active is not { Busy: false, Step: { } step }) return;
        var now = time.GetUtcNow();
        step.Resend(null, Available(), now, _sends);
        foreach (var (worker, first, count) in step.Overdue(now, settings.StepTimeout))
        {
            _warnings.Add($"chunks {first}..{first + count - 1} not back from {_workers.GetValueOrDefault(worker, "a worker that left")} after {settings.StepTimeout.TotalSeconds:0} s: sent elsewhere");
            _suspects.Add(worker);
            step.Resend(worker, Available(), now, _sends);
        }
    }

    /// <summary>
    /// Part of a worker's answer; when it completes the step, the chunks' gradients are added in order and applied to the
    /// run (true). The caller then checkpoints if <see cref="CheckpointDue"/> and calls <see cref="Advance"/>.
    /// </summary>
    public bool Take(TWorker from, GradientPart part)
    {
        if (Active is not { Busy: false, Step: { } step } a || part.JobId != a.Spec.JobId) return false;
        var n = a.Run.Architecture.ParameterCount;
        if (!step.Take(from, part, n)) return false;
        var (gradient, loss) = step.Sum(n);
        a.Run.ApplyGradient(gradient, loss, step.Boxes);
        a.Steps++;
        a.TotalBytes += step.Bytes;
        a.LastStepSeconds = (time.GetUtcNow() - step.StartedAt).TotalSeconds;
        a.TotalStepSeconds += a.LastStepSeconds;
        a.TotalComputeSeconds += step.ComputeSeconds;
        a.Step = null;
        return true;
    }

    /// <summary>
    /// A worker refused its slice: it goes to another worker, unless every worker has refused it again and again, when the
    /// training cannot go on: the reason, for <see cref="Fail"/>.
    /// </summary>
    public string? Refused(TWorker from, GradientRefused refused)
    {
        if (Active is not { Busy: false, Step: { } step } a) return null;
        var limit = MaxRefusals * Math.Max(1, _workers.Count);
        if (step.Refused(from, refused, Available(), time.GetUtcNow(), _sends, limit) is not { } refusals || refusals < limit) return null;
        a.Busy = true;
        return $"step {step.Step}: {refused.Node}: {refused.Reason}";
    }
}
