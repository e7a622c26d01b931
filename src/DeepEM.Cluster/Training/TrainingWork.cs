using Akka.Actor;
using DeepEM.Cluster.Internal;
using DeepEM.Cluster.Protocol;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.Training;

namespace DeepEM.Cluster.Training;

// The answers of the training coordinator's slow work, told to it when ready: never serialized.
internal sealed record InputsKept(TrainingSpec Spec, IActorRef Client) : INoSerializationVerificationNeeded;
internal sealed record Prepared(TrainingSpec Spec, TrainingRun Run, IComputeBackend Validation) : INoSerializationVerificationNeeded;
internal sealed record EpochValidated(string JobId, EpochReport Report) : INoSerializationVerificationNeeded;
internal sealed record CheckpointWritten(string JobId, long Step, BlobRef File) : INoSerializationVerificationNeeded;
internal sealed record ResultWritten(string JobId, TrainingResult Result, BlobRef File) : INoSerializationVerificationNeeded;
internal sealed record TrainingFailed(string JobId, string Reason) : INoSerializationVerificationNeeded;
internal sealed record WorkWarning(string Line) : INoSerializationVerificationNeeded;

/// <summary>
/// What the training coordinator does off its own thread, one thing after another in the order asked
/// (<see cref="SerialWork"/>), each answer told to <paramref name="coordinator"/>: copying a submission's inputs,
/// reading them into a run, validating an epoch, writing checkpoints and results through the
/// <see cref="ITrainingStore"/>, deleting old checkpoints. A failure of a training's work answers
/// <see cref="TrainingFailed"/>; a submission's goes to its client.
/// </summary>
internal sealed class TrainingWork(IActorRef coordinator, ITrainingStore store, DeviceChoice validationDevice)
{
    private readonly SerialWork _work = new(coordinator);

    private void Run(string jobId, Func<object?> work) => _work.Run(work, reason => new TrainingFailed(jobId, reason));

    /// <summary>Copies the inputs in (workers that cannot read the client's paths fetch them from here); a failure goes to the client.</summary>
    public void KeepInputs(TrainingSpec spec, IActorRef client) => _work.Run(() =>
    {
        store.KeepInputs(spec);
        return new InputsKept(spec, client);
    }, reason =>
    {
        client.Tell(new TrainingRejected(spec.JobId, reason));
        return new WorkWarning($"training {spec.JobId} rejected: {reason}");
    });

    /// <summary>The run from the kept inputs and the last checkpoint, and the backend that validates it.</summary>
    public void Prepare(TrainingSpec spec, BlobRef? checkpoint) => Run(spec.JobId, () =>
    {
        var (data, init) = store.ReadInputs(spec);
        var run = TrainingPlanner<IActorRef>.CreateRun(spec, data, init, checkpoint is null ? null : store.ReadCheckpoint(checkpoint));
        return new Prepared(spec, run, BackendFactory.Create(run.Architecture, TrainingDevice.For(run.Architecture, validationDevice)));
    });

    public void Validate(string jobId, TrainingRun run, IComputeBackend validation, (TimeSpan Epoch, TimeSpan Elapsed) times) =>
        Run(jobId, () => new EpochValidated(jobId, run.FinishEpoch(validation, times.Epoch, times.Elapsed)));

    public void WriteCheckpoint(CheckpointFile file, long step) =>
        Run(file.JobId, () => new CheckpointWritten(file.JobId, step, store.WriteCheckpoint(file, step)));

    /// <summary>The best epoch's parameters with their threshold, written where they can be fetched.</summary>
    public void Finish(string jobId, TrainingRun run, IComputeBackend validation) => Run(jobId, () =>
    {
        var result = run.Result(validation);
        return new ResultWritten(jobId, result, store.WriteResult(jobId, result.Parameters));
    });

    /// <summary>A checkpoint no longer needed; one that cannot be deleted is only worth a warning.</summary>
    public void Delete(BlobRef? file)
    {
        if (file is null) return;
        _work.Run(() =>
        {
            store.Delete(file);
            return null;
        }, reason => new WorkWarning($"could not delete old checkpoint {file.Path}: {reason}"));
    }

    /// <summary>A chunk of a file the store holds, read off the thread and sent straight to whoever asked (not in turn: reads are independent).</summary>
    public void Serve(FetchBlobChunk request, IActorRef requester) => Task.Run(() => store.Serve(request)).PipeTo(requester);
}
