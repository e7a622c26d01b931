using Akka.Actor;
using Akka.Persistence;
using DeepEM.Cluster.Diagnostics;
using DeepEM.Cluster.Internal;
using DeepEM.Cluster.Protocol;
using DeepEM.Numerics.Backends;

namespace DeepEM.Cluster.Training;

/// <summary>
/// The training coordinator: a cluster singleton on the coordinator role, persistent through the journal. It trains one
/// job at a time in submission order; what to send to which gradient worker, and when a step is complete, is decided by
/// its <see cref="TrainingPlanner{TWorker}"/> (a test drives that without an ActorSystem). The actor only wires it: it
/// journals, sends what the planner decided, follows workers and clients, and does every slow thing off its own thread,
/// one after another in the order asked (copying inputs, reading them, validating an epoch, writing checkpoints and
/// results, through an <see cref="ITrainingStore"/>), the results coming back as messages. Every
/// <see cref="TrainingSettings.CheckpointEvery"/> steps, and after each epoch, the run is written to a checkpoint and a
/// journal entry names it; a restarted coordinator goes on from the last one.
/// </summary>
internal sealed class TrainingCoordinator : ReceivePersistentActor, IWithTimers
{
    public const string PersistenceIdValue = "deepem-training-coordinator";

    /// <summary>Stops the singleton on hand-over after whatever is being persisted.</summary>
    public sealed record Stop : INoSerializationVerificationNeeded
    {
        public static readonly Stop Instance = new();
    }

    // Messages to itself (timers): never serialized. The answers of work done off its thread are TrainingWork's.
    private sealed record Tick : INoSerializationVerificationNeeded;
    private sealed record StartNext : INoSerializationVerificationNeeded;

    private readonly NodeLog _log = new(Context);
    private readonly NodeMetrics _metrics = NodeMetrics.For(Context.System);
    private readonly TrainingPlanner<IActorRef> _plan;
    private readonly TrainingWork _work;
    private readonly Followers _followers;
    private IComputeBackend? _validation;

    public ITimerScheduler Timers { get; set; } = null!;

    public override string PersistenceId => PersistenceIdValue;

    // It never saves a snapshot, so it never asks the snapshot store for one: on a new journal, building and running that
    // query was a large part of what a coordinator node's start-up spent recovering (docs/benchmarks.md).
    public override Recovery Recovery { get; } = new(SnapshotSelectionCriteria.None);

    public static Props Props(TrainingSettings settings, ITrainingStore store, DeviceChoice validationDevice) =>
        Akka.Actor.Props.Create(() => new TrainingCoordinator(settings, store, validationDevice));

    public TrainingCoordinator(TrainingSettings settings, ITrainingStore store, DeviceChoice validationDevice)
    {
        _plan = new TrainingPlanner<IActorRef>(settings, TimeProvider.System);
        _work = new TrainingWork(Self, store, validationDevice);
        _followers = new Followers(Context);

        Recover<TrainingSubmitted>(e => _plan.Apply(e));
        Recover<TrainingCheckpointed>(e => _plan.Apply(e));
        Recover<TrainingFinished>(e => _plan.Apply(e));
        Recover<RecoveryCompleted>(_ =>
        {
            _log.Info(default, $"training coordinator recovered {_plan.Trainings} trainings ({_plan.FinishedCount} finished) at sequence number {LastSequenceNr}");
            Timers.StartPeriodicTimer("tick", new Tick(), TimeSpan.FromSeconds(1));
            Self.Tell(new StartNext());
        });

        Command<SubmitTraining>(Submit);
        Command<InputsKept>(OnInputsKept);
        Command<FollowTraining>(Follow);
        Command<GetTrainers>(_ => Sender.Tell(new Trainers(_plan.Nodes)));
        Command<RegisterTrainer>(Register);
        Command<Terminated>(OnTerminated);
        Command<Tick>(_ => Flush(() => _plan.Tick()));
        Command<GradientPart>(part => Flush(() => OnGradientPart(part)));
        Command<GradientRefused>(OnRefused);
        Command<StartNext>(_ => StartNextJob());
        Command<Prepared>(OnPrepared);
        Command<EpochValidated>(OnEpochValidated);
        Command<CheckpointWritten>(OnCheckpointWritten);
        Command<ResultWritten>(OnResultWritten);
        Command<TrainingFailed>(OnFailed);
        Command<WorkWarning>(w => _log.Warning(default, $"{w.Line}"));
        Command<FetchBlobChunk>(request => _work.Serve(request, Sender));
        Command<Stop>(_ => Context.Stop(Self));
    }

    protected override void PostStop()
    {
        _validation?.Dispose();
        base.PostStop();
    }

    /// <summary>Sends what the planner decided and logs its warnings.</summary>
    private void Flush(Action act)
    {
        act();
        foreach (var send in _plan.TakeSends()) send.To.Tell(send.Message);
        foreach (var line in _plan.TakeWarnings()) _log.Warning(LogFields.ForTraining(_plan.Active?.Spec.JobId ?? "", _plan.Active?.Run.Step), $"{line}");
    }

    // ---- clients ----

    private void Submit(SubmitTraining message)
    {
        var (spec, client) = (message.Spec, Sender);
        if (_plan.Known(spec, out var retry) is { } known)
        {
            if (retry) Self.Tell(new StartNext());
            client.Tell(known);
        }
        else if (TrainingPlanner<IActorRef>.Check(spec) is { } problem) client.Tell(new TrainingRejected(spec.JobId, problem));
        else _work.KeepInputs(spec, client);
    }

    private void OnInputsKept(InputsKept kept)
    {
        var spec = kept.Spec;
        // Submitted twice at once: the second copy finds the first journalled.
        if (_plan.Known(spec, out _) is { } known)
        {
            kept.Client.Tell(known);
            return;
        }
        Persist(new TrainingSubmitted(spec), e =>
        {
            _plan.Apply(e);
            _log.Info(LogFields.ForTraining(spec.JobId), $"submitted: {spec.Preset} on {spec.BoxSize} px boxes, {spec.Epochs} epochs of batch {spec.BatchSize}");
            kept.Client.Tell(_plan.Accepted(spec));
            Self.Tell(new StartNext());
        });
    }

    private void Follow(FollowTraining message)
    {
        foreach (var m in _plan.Replay(message.JobId, _followers.Add(message.JobId, Sender))) Sender.Tell(m);
    }

    // ---- workers ----

    private void Register(RegisterTrainer message) => Flush(() =>
    {
        if (!_plan.Register(Sender, message.Node)) return;
        Context.Watch(Sender);
        _log.Info(default, $"gradient worker on {message.Node} ({message.Device}) joined: {_plan.WorkerCount} workers");
    });

    private void OnTerminated(Terminated t) => Flush(() =>
    {
        _followers.Remove(t.ActorRef);
        if (_plan.Gone(t.ActorRef) is { } node) _log.Warning(default, $"gradient worker on {node} is gone: {_plan.WorkerCount} workers");
    });

    private void OnRefused(GradientRefused refused)
    {
        _log.Warning(LogFields.ForTraining(refused.JobId, refused.Step), $"{refused.Node} refused chunks from {refused.FirstChunk}: {refused.Reason}");
        string? failure = null;
        Flush(() => failure = _plan.Refused(Sender, refused));
        if (failure is not null) OnFailed(new TrainingFailed(refused.JobId, failure));
    }

    // ---- the training under way ----

    private void StartNextJob()
    {
        if (_plan.NextJob() is { } next) _work.Prepare(next, _plan.LastCheckpoint(next.JobId)?.Checkpoint);
    }

    private void OnPrepared(Prepared p)
    {
        _validation = p.Validation;
        var run = _plan.Start(p.Spec, p.Run).Run;
        _log.Info(LogFields.ForTraining(p.Spec.JobId, run.Step),
            $"{run.TotalSteps} steps of {run.BatchBoxes} boxes ({run.Options.Epochs} epochs){(run.Step == 0 ? "" : $", resumed after step {run.Step}")}; validating on {p.Validation.Device}");
        Advance();
    }

    private void OnGradientPart(GradientPart part)
    {
        if (!_plan.Take(Sender, part) || _plan.Active is not { } a) return;
        _metrics.TrainingStepSeconds.Observe(a.LastStepSeconds);
        _metrics.TrainingStep.WithLabels(a.Spec.JobId).Set(a.Run.Step);
        if (_plan.CheckpointDue) Checkpoint();
        Advance();
    }

    /// <summary>The next step goes out, or the epoch is validated, or the training finished, off the thread.</summary>
    private void Advance() => Flush(() =>
    {
        var a = _plan.Active!;
        var next = _plan.Advance();
        if (next == TrainingNext.Validate) _work.Validate(a.Spec.JobId, a.Run, _validation!, a.EpochTimes);
        if (next == TrainingNext.Finish) _work.Finish(a.Spec.JobId, a.Run, _validation!);
    });

    private void OnEpochValidated(EpochValidated message)
    {
        if (_plan.Active is not { } a || a.Spec.JobId != message.JobId) return;
        _plan.Validated();
        var r = message.Report;
        _log.Info(LogFields.ForTraining(a.Spec.JobId, a.Run.Step), $"epoch {r.Epoch}/{r.Epochs}: loss {r.TrainingLoss:0.0000}, validation accuracy {r.ValidationAccuracy:0.0000}");
        _followers.Tell(a.Spec.JobId, new TrainingProgress(a.Spec.JobId, r, a.Traffic()));
        Checkpoint();
        Advance();
    }

    /// <summary>The run's state is taken now; the file is written off the thread, then journalled.</summary>
    private void Checkpoint()
    {
        _work.WriteCheckpoint(_plan.Checkpoint(), _plan.Active!.Run.Step);
    }

    private void OnCheckpointWritten(CheckpointWritten written) =>
        Persist(new TrainingCheckpointed(written.JobId, written.Step, written.File), e => _work.Delete(_plan.Apply(e)));

    private void OnResultWritten(ResultWritten written)
    {
        if (_plan.Active is not { } a || a.Spec.JobId != written.JobId) return;
        var (result, traffic) = (written.Result, a.Traffic());
        var finished = new TrainingFinished(a.Spec.JobId, written.File, result.BestEpoch, result.ValidationLoss, result.ValidationAccuracy,
            result.Threshold, result.TrainingBoxes, result.ValidationBoxes, result.Epochs, traffic, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        Persist(finished, e =>
        {
            _work.Delete(_plan.Apply(e));
            _log.Info(LogFields.ForTraining(e.JobId),
                $"finished: best epoch {e.BestEpoch}, validation accuracy {e.ValidationAccuracy:0.0000}; {traffic.Steps} steps here, {traffic.StepSeconds:0.000} s each ({traffic.ComputeSeconds:0.000} s computing), {traffic.BytesPerStep} bytes each");
            _followers.Tell(e.JobId, e);
            EndActive();
        });
    }

    /// <summary>A training whose inputs, validation or files failed stops (its followers are told why) and the next one starts.</summary>
    private void OnFailed(TrainingFailed failed)
    {
        _log.Error(LogFields.ForTraining(failed.JobId), $"cannot go on: {failed.Reason}");
        _plan.Fail(failed.JobId);
        _followers.Tell(failed.JobId, new TrainingRejected(failed.JobId, failed.Reason));
        if (_plan.Active is null) EndActive();
    }

    private void EndActive()
    {
        _validation?.Dispose();
        _validation = null;
        Self.Tell(new StartNext());
    }
}
