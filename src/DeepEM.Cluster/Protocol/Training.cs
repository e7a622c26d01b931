using DeepEM.Numerics.Training;

namespace DeepEM.Cluster.Protocol;

// Data-parallel training: a client submits a training, the training coordinator (a cluster singleton) owns the
// weights and the optimizer state, and every worker node's gradient worker computes the gradients of the chunks
// of each step that it is given. Float arrays travel as little-endian float32 bytes in parts of at most
// deepem.cluster.training.message-bytes.

/// <summary>A file known by its content: SHA-256 of its bytes (hex), a path where it may be read, its length.</summary>
public sealed record BlobRef(string Sha256, string Path, long Length);

/// <summary>
/// What to train: the network (a preset on boxes of <see cref="BoxSize"/> px), the labelled boxes (a training-set
/// file, <see cref="Numerics.Training.BoxSetFile"/>), optional starting parameters (float32 file), and the
/// optimizer's settings. The job id names the training: submitting the same spec again follows it.
/// </summary>
public sealed record TrainingSpec(
    string JobId,
    string Preset,
    int BoxSize,
    BlobRef TrainingSet,
    BlobRef? InitialParameters,
    int Epochs,
    int BatchSize,
    double LearningRate,
    double Momentum,
    string Loss,
    double ValidationFraction,
    ulong Seed,
    long SubmittedUnixMs,
    int Symmetries = 4);

/// <summary>What one training's steps cost, averaged over its steps so far (for the report and the benchmark).</summary>
public sealed record TrainingTraffic(long Steps, double StepSeconds, double ComputeSeconds, double CommunicationSeconds, long BytesPerStep, int Workers);

// ---- client <-> training coordinator ----

internal sealed record SubmitTraining(TrainingSpec Spec) : IClusterMessage;

public sealed record TrainingAccepted(string JobId, bool Resumed, long Step, long TotalSteps, int Workers) : IClusterMessage;

internal sealed record TrainingRejected(string JobId, string Reason) : IClusterMessage;

/// <summary>Sends the follower every epoch report so far and the ones to come, then <see cref="TrainingFinished"/>.</summary>
internal sealed record FollowTraining(string JobId) : IClusterMessage;

public sealed record TrainingProgress(string JobId, EpochReport Epoch, TrainingTraffic Traffic) : IClusterMessage;

/// <summary>
/// The end of a training, also kept in the journal: the best epoch's parameters (a float32 file in the
/// coordinator's state folder, fetched like a model), its validation figures and every epoch's report.
/// </summary>
public sealed record TrainingFinished(
    string JobId,
    BlobRef BestParameters,
    int BestEpoch,
    double ValidationLoss,
    double ValidationAccuracy,
    ThresholdPoint Threshold,
    int TrainingBoxes,
    int ValidationBoxes,
    IReadOnlyList<EpochReport> Epochs,
    TrainingTraffic Traffic,
    long FinishedUnixMs) : IClusterMessage;

// ---- gradient workers <-> training coordinator ----

/// <summary>A worker node's gradient worker announces itself every few seconds (a restarted coordinator learns of it again).</summary>
internal sealed record RegisterTrainer(string Node, string Device) : IClusterMessage;

/// <summary>Asks the training coordinator which gradient workers it knows; it answers <see cref="Trainers"/>.</summary>
internal sealed record GetTrainers : IClusterMessage
{
    public static readonly GetTrainers Instance = new();
}

/// <summary>The nodes (<c>host:port</c>) whose gradient workers have registered with the training coordinator.</summary>
internal sealed record Trainers(IReadOnlyList<string> Nodes) : IClusterMessage;

/// <summary>One part of a step's weights, for weights larger than one message; the task carries the last part.</summary>
internal sealed record WeightsPart(string JobId, long Step, int Offset, int Total, float[] Values) : IClusterMessage;

/// <summary>
/// Compute the gradients of chunks <see cref="FirstChunk"/>.. of step <see cref="Step"/>: the samples (box index into
/// the training set and quarter turns) of those chunks, 16 per chunk, at the weights whose SHA-256 is given.
/// </summary>
internal sealed record GradientTask(
    string JobId,
    long Step,
    string Preset,
    int BoxSize,
    string Loss,
    BlobRef TrainingSet,
    string WeightsSha256,
    int WeightsOffset,
    int WeightsTotal,
    float[] Weights,
    int FirstChunk,
    int[] Boxes,
    int[] Rotations) : IClusterMessage;

/// <summary>
/// Part of the answer to a <see cref="GradientTask"/>: the chunks' gradients one after another (chunk-major), values
/// from <see cref="Offset"/> of <see cref="Total"/>; every part carries every chunk's summed loss.
/// </summary>
internal sealed record GradientPart(
    string JobId,
    long Step,
    int FirstChunk,
    int Chunks,
    int Offset,
    int Total,
    float[] Values,
    double[] Losses,
    string Node,
    double ComputeSeconds) : IClusterMessage;

/// <summary>The worker could not compute the task (weights that do not match their hash, an unreadable training set).</summary>
internal sealed record GradientRefused(string JobId, long Step, int FirstChunk, string Node, string Reason) : IClusterMessage;

// ---- the training coordinator's journal ----

internal sealed record TrainingSubmitted(TrainingSpec Spec) : IClusterMessage;

/// <summary>A checkpoint file (<see cref="TrainingCheckpoint"/> in protobuf) was written after <see cref="Step"/> steps.</summary>
internal sealed record TrainingCheckpointed(string JobId, long Step, BlobRef Checkpoint) : IClusterMessage;

/// <summary>The contents of a checkpoint file (not a message: the serializer writes it to a file).</summary>
internal sealed record CheckpointFile(string JobId, TrainingCheckpoint Checkpoint) : IClusterMessage;
