using DeepEM.Cluster.Protocol;
using DeepEM.Numerics.Training;
using Google.Protobuf;
using P = DeepEM.Cluster.Serialization.Proto;

namespace DeepEM.Cluster.Serialization;

/// <summary>The training messages (protos/training.proto); manifests start with "t".</summary>
internal sealed partial class ClusterMessageSerializer
{
    private static string TrainingManifest(object o) => o switch
    {
        SubmitTraining => "t-sub",
        TrainingAccepted => "t-acc",
        TrainingRejected => "t-rej",
        FollowTraining => "t-fol",
        TrainingProgress => "t-prog",
        TrainingFinished => "t-fin",
        RegisterTrainer => "t-reg",
        GetTrainers => "t-who",
        Trainers => "t-wkr",
        WeightsPart => "t-w",
        GradientTask => "t-task",
        GradientPart => "t-g",
        GradientRefused => "t-gno",
        TrainingSubmitted => "t-e-sub",
        TrainingCheckpointed => "t-e-ck",
        CheckpointFile => "t-ckf",
        _ => ClassificationManifest(o),
    };

    private static object TrainingFromBinary(byte[] bytes, string manifest) => manifest switch
    {
        "t-sub" => new SubmitTraining(FromProto(P.SubmitTraining.Parser.ParseFrom(bytes).Spec)),
        "t-acc" => P.TrainingAccepted.Parser.ParseFrom(bytes) is var a ? new TrainingAccepted(a.JobId, a.Resumed, a.Step, a.TotalSteps, a.Workers) : null!,
        "t-rej" => P.TrainingRejected.Parser.ParseFrom(bytes) is var r ? new TrainingRejected(r.JobId, r.Reason) : null!,
        "t-fol" => new FollowTraining(P.FollowTraining.Parser.ParseFrom(bytes).JobId),
        "t-prog" => P.TrainingProgress.Parser.ParseFrom(bytes) is var g ? new TrainingProgress(g.JobId, FromProto(g.Epoch), FromProto(g.Traffic)) : null!,
        "t-fin" => FromProto(P.TrainingFinished.Parser.ParseFrom(bytes)),
        "t-reg" => P.RegisterTrainer.Parser.ParseFrom(bytes) is var t ? new RegisterTrainer(t.Node, t.Device) : null!,
        "t-who" => GetTrainers.Instance,
        "t-wkr" => new Trainers([.. P.Trainers.Parser.ParseFrom(bytes).Nodes]),
        "t-w" => P.WeightsPart.Parser.ParseFrom(bytes) is var w ? new WeightsPart(w.JobId, w.Step, w.Offset, w.Total, Floats(w.Values)) : null!,
        "t-task" => FromProto(P.GradientTask.Parser.ParseFrom(bytes)),
        "t-g" => FromProto(P.GradientPart.Parser.ParseFrom(bytes)),
        "t-gno" => P.GradientRefused.Parser.ParseFrom(bytes) is var n ? new GradientRefused(n.JobId, n.Step, n.FirstChunk, n.Node, n.Reason) : null!,
        "t-e-sub" => new TrainingSubmitted(FromProto(P.TrainingSubmitted.Parser.ParseFrom(bytes).Spec)),
        "t-e-ck" => P.TrainingCheckpointed.Parser.ParseFrom(bytes) is var c ? new TrainingCheckpointed(c.JobId, c.Step, FromProto(c.Checkpoint)) : null!,
        "t-ckf" => FromProto(P.CheckpointFile.Parser.ParseFrom(bytes)),
        _ => ClassificationFromBinary(bytes, manifest),
    };

    private static IMessage TrainingToProto(object o) => o switch
    {
        SubmitTraining m => new P.SubmitTraining { Spec = ToProto(m.Spec) },
        TrainingAccepted m => new P.TrainingAccepted { JobId = m.JobId, Resumed = m.Resumed, Step = m.Step, TotalSteps = m.TotalSteps, Workers = m.Workers },
        TrainingRejected m => new P.TrainingRejected { JobId = m.JobId, Reason = m.Reason },
        FollowTraining m => new P.FollowTraining { JobId = m.JobId },
        TrainingProgress m => new P.TrainingProgress { JobId = m.JobId, Epoch = ToProto(m.Epoch), Traffic = ToProto(m.Traffic) },
        TrainingFinished m => new P.TrainingFinished
        {
            JobId = m.JobId, BestParameters = ToProto(m.BestParameters), BestEpoch = m.BestEpoch, ValidationLoss = m.ValidationLoss,
            ValidationAccuracy = m.ValidationAccuracy,
            Threshold = new P.ThresholdPoint { Threshold = m.Threshold.Threshold, Precision = m.Threshold.Precision, Recall = m.Threshold.Recall, F1 = m.Threshold.F1, F2 = m.Threshold.F2 },
            TrainingBoxes = m.TrainingBoxes, ValidationBoxes = m.ValidationBoxes, Epochs = { m.Epochs.Select(ToProto) }, Traffic = ToProto(m.Traffic),
            FinishedUnixMs = m.FinishedUnixMs,
        },
        RegisterTrainer m => new P.RegisterTrainer { Node = m.Node, Device = m.Device },
        GetTrainers => new P.GetTrainers(),
        Trainers m => new P.Trainers { Nodes = { m.Nodes } },
        WeightsPart m => new P.WeightsPart { JobId = m.JobId, Step = m.Step, Offset = m.Offset, Total = m.Total, Values = Bytes(m.Values) },
        GradientTask m => new P.GradientTask
        {
            JobId = m.JobId, Step = m.Step, Preset = m.Preset, BoxSize = m.BoxSize, Loss = m.Loss, TrainingSet = ToProto(m.TrainingSet),
            WeightsSha256 = m.WeightsSha256, WeightsOffset = m.WeightsOffset, WeightsTotal = m.WeightsTotal, Weights = Bytes(m.Weights),
            FirstChunk = m.FirstChunk, Boxes = { m.Boxes }, Rotations = { m.Rotations },
        },
        GradientPart m => new P.GradientPart
        {
            JobId = m.JobId, Step = m.Step, FirstChunk = m.FirstChunk, Chunks = m.Chunks, Offset = m.Offset, Total = m.Total, Values = Bytes(m.Values),
            Losses = { m.Losses }, Node = m.Node, ComputeSeconds = m.ComputeSeconds,
        },
        GradientRefused m => new P.GradientRefused { JobId = m.JobId, Step = m.Step, FirstChunk = m.FirstChunk, Node = m.Node, Reason = m.Reason },
        TrainingSubmitted m => new P.TrainingSubmitted { Spec = ToProto(m.Spec) },
        TrainingCheckpointed m => new P.TrainingCheckpointed { JobId = m.JobId, Step = m.Step, Checkpoint = ToProto(m.Checkpoint) },
        CheckpointFile m => new P.CheckpointFile
        {
            JobId = m.JobId, Epoch = m.Checkpoint.Epoch, StepInEpoch = m.Checkpoint.StepInEpoch, EpochLoss = m.Checkpoint.EpochLoss,
            Parameters = Bytes(m.Checkpoint.Parameters), Velocity = Bytes(m.Checkpoint.Velocity), Best = Bytes(m.Checkpoint.Best),
            BestAccuracy = m.Checkpoint.BestAccuracy, BestLoss = m.Checkpoint.BestLoss, BestEpoch = m.Checkpoint.BestEpoch,
            Reports = { m.Checkpoint.Reports.Select(ToProto) },
        },
        _ => ClassificationToProto(o),
    };

    /// <summary>A checkpoint file's bytes (the same encoding as the message).</summary>
    public static byte[] CheckpointToBytes(CheckpointFile file) => TrainingToProto(file).ToByteArray();

    public static CheckpointFile CheckpointFromBytes(byte[] bytes) => FromProto(P.CheckpointFile.Parser.ParseFrom(bytes));

    private static ByteString Bytes(float[] values) => ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));

    private static float[] Floats(ByteString bytes) => FloatBytes.FromBytes(bytes.Span, "message");

    private static P.BlobRef ToProto(BlobRef b) => new() { Sha256 = b.Sha256, Path = b.Path, Length = b.Length };

    private static BlobRef FromProto(P.BlobRef? b) => b is null ? new BlobRef("", "", 0) : new BlobRef(b.Sha256, b.Path, b.Length);

    private static P.TrainingSpec ToProto(TrainingSpec s)
    {
        var p = new P.TrainingSpec
        {
            JobId = s.JobId, Preset = s.Preset, BoxSize = s.BoxSize, TrainingSet = ToProto(s.TrainingSet), Epochs = s.Epochs, BatchSize = s.BatchSize,
            LearningRate = s.LearningRate, Momentum = s.Momentum, Loss = s.Loss, ValidationFraction = s.ValidationFraction, Seed = s.Seed,
            SubmittedUnixMs = s.SubmittedUnixMs, Symmetries = s.Symmetries,
        };
        if (s.InitialParameters is { } init) p.InitialParameters = ToProto(init);
        return p;
    }

    private static TrainingSpec FromProto(P.TrainingSpec s) => new(
        s.JobId, s.Preset, s.BoxSize, FromProto(s.TrainingSet), s.InitialParameters is null ? null : FromProto(s.InitialParameters), s.Epochs,
        s.BatchSize, s.LearningRate, s.Momentum, s.Loss, s.ValidationFraction, s.Seed, s.SubmittedUnixMs, s.Symmetries == 0 ? 4 : s.Symmetries);

    private static P.EpochReport ToProto(EpochReport e) => new()
    {
        Epoch = e.Epoch, Epochs = e.Epochs, TrainingLoss = e.TrainingLoss, ValidationLoss = e.ValidationLoss, ValidationAccuracy = e.ValidationAccuracy,
        BoxesPerSecond = e.BoxesPerSecond, ElapsedMs = (long)e.Elapsed.TotalMilliseconds, RemainingMs = (long)e.Remaining.TotalMilliseconds, Best = e.Best,
    };

    private static EpochReport FromProto(P.EpochReport e) => new(e.Epoch, e.Epochs, e.TrainingLoss, e.ValidationLoss, e.ValidationAccuracy,
        e.BoxesPerSecond, TimeSpan.FromMilliseconds(e.ElapsedMs), TimeSpan.FromMilliseconds(e.RemainingMs), e.Best);

    private static P.TrainingTraffic ToProto(TrainingTraffic t) => new()
    {
        Steps = t.Steps, StepSeconds = t.StepSeconds, ComputeSeconds = t.ComputeSeconds, CommunicationSeconds = t.CommunicationSeconds,
        BytesPerStep = t.BytesPerStep, Workers = t.Workers,
    };

    private static TrainingTraffic FromProto(P.TrainingTraffic? t) => t is null
        ? new TrainingTraffic(0, 0, 0, 0, 0, 0)
        : new TrainingTraffic(t.Steps, t.StepSeconds, t.ComputeSeconds, t.CommunicationSeconds, t.BytesPerStep, t.Workers);

    private static TrainingFinished FromProto(P.TrainingFinished m) => new(
        m.JobId, FromProto(m.BestParameters), m.BestEpoch, m.ValidationLoss, m.ValidationAccuracy,
        m.Threshold is { } t ? new ThresholdPoint(t.Threshold, t.Precision, t.Recall, t.F1, t.F2) : default,
        m.TrainingBoxes, m.ValidationBoxes, m.Epochs.Select(FromProto).ToList(), FromProto(m.Traffic), m.FinishedUnixMs);

    private static GradientTask FromProto(P.GradientTask m) => new(
        m.JobId, m.Step, m.Preset, m.BoxSize, m.Loss, FromProto(m.TrainingSet), m.WeightsSha256, m.WeightsOffset, m.WeightsTotal, Floats(m.Weights),
        m.FirstChunk, m.Boxes.ToArray(), m.Rotations.ToArray());

    private static GradientPart FromProto(P.GradientPart m) => new(
        m.JobId, m.Step, m.FirstChunk, m.Chunks, m.Offset, m.Total, Floats(m.Values), m.Losses.ToArray(), m.Node, m.ComputeSeconds);

    private static CheckpointFile FromProto(P.CheckpointFile m) => new(m.JobId, new TrainingCheckpoint(
        m.Epoch, m.StepInEpoch, m.EpochLoss, Floats(m.Parameters), Floats(m.Velocity), Floats(m.Best), m.BestAccuracy, m.BestLoss, m.BestEpoch,
        m.Reports.Select(FromProto).ToList()));
}
