using Akka.Actor;
using Akka.Serialization;
using DeepEM.Cluster.Protocol;
using Google.Protobuf;
using P = DeepEM.Cluster.Serialization.Proto;

namespace DeepEM.Cluster.Serialization;

/// <summary>
/// The one serializer of this module: every <see cref="IClusterMessage"/> to and from the protobuf messages of
/// protos/cluster.proto and protos/training.proto, named by a short string manifest. Bound to the marker interface in hocon/base.conf.
/// A manifest this version does not know is an error, never a guess.
/// </summary>
public sealed partial class ClusterMessageSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>Akka reserves identifiers up to 40 for itself; this one is ours for ever.</summary>
    public const int SerializerId = 4711;

    public override int Identifier => SerializerId;

    public override string Manifest(object o) => o switch
    {
        SubmitCampaign => "sub",
        CampaignAccepted => "acc",
        CampaignRejected => "rej",
        GetCampaignStatus => "get",
        FollowCampaign => "fol",
        CampaignStatus => "st",
        CampaignStatusReport => "str",
        MicrographProgress => "prog",
        PickTask => "task",
        TaskStarted => "tst",
        TaskPicked => "tpk",
        TaskFailed => "tfl",
        StopSlot => "stop",
        FetchModelChunk => "fmc",
        ModelChunk => "mc",
        CampaignSubmitted => "e-sub",
        MicrographsAdded => "e-add",
        MicrographPicked => "e-pk",
        MicrographFailed => "e-fl",
        CampaignCompleted => "e-end",
        CoordinatorSnapshot => "snap",
        _ => TrainingManifest(o),
    };

    public override byte[] ToBinary(object o) => ToProto(o).ToByteArray();

    public override object FromBinary(byte[] bytes, string manifest) => manifest switch
    {
        "sub" => new SubmitCampaign(FromProto(P.SubmitCampaign.Parser.ParseFrom(bytes).Spec)),
        "acc" => P.CampaignAccepted.Parser.ParseFrom(bytes) is var a ? new CampaignAccepted(a.CampaignId, a.Total, a.Done, a.Failed, a.Resumed, a.Particles) : null!,
        "rej" => P.CampaignRejected.Parser.ParseFrom(bytes) is var r ? new CampaignRejected(r.CampaignId, r.Reason) : null!,
        "get" => new GetCampaignStatus(P.GetCampaignStatus.Parser.ParseFrom(bytes).CampaignId),
        "fol" => new FollowCampaign(P.FollowCampaign.Parser.ParseFrom(bytes).CampaignId),
        "st" => FromProto(P.CampaignStatus.Parser.ParseFrom(bytes)),
        "str" => new CampaignStatusReport(P.CampaignStatusReport.Parser.ParseFrom(bytes).Campaigns.Select(FromProto).ToList()),
        "prog" => FromProto(P.MicrographProgress.Parser.ParseFrom(bytes)),
        "task" => FromProto(P.PickTask.Parser.ParseFrom(bytes)),
        "tst" => P.TaskStarted.Parser.ParseFrom(bytes) is var s ? new TaskStarted(s.Slot, s.TaskId, s.Node) : null!,
        "tpk" => FromProto(P.TaskPicked.Parser.ParseFrom(bytes)),
        "tfl" => P.TaskFailed.Parser.ParseFrom(bytes) is var f ? new TaskFailed(f.Slot, f.TaskId, f.CampaignId, f.Name, f.Node, f.Error, f.BadInput) : null!,
        "stop" => StopSlot.Instance,
        "fmc" => P.FetchModelChunk.Parser.ParseFrom(bytes) is var q ? new FetchModelChunk(q.ModelSha256, q.Offset) : null!,
        "mc" => P.ModelChunk.Parser.ParseFrom(bytes) is var c ? new ModelChunk(c.ModelSha256, c.Offset, c.TotalLength, c.Data.ToByteArray(), c.Error) : null!,
        "e-sub" => new CampaignSubmitted(FromProto(P.CampaignSubmitted.Parser.ParseFrom(bytes).Spec)),
        "e-add" => P.MicrographsAdded.Parser.ParseFrom(bytes) is var m
            ? new MicrographsAdded(m.CampaignId, m.Micrographs.Select(FromProto).ToList(), m.AlreadyDone.ToList()) : null!,
        "e-pk" => P.MicrographPicked.Parser.ParseFrom(bytes) is var p ? new MicrographPicked(p.CampaignId, p.Name, p.Node, p.Particles, p.Seconds) : null!,
        "e-fl" => P.MicrographFailed.Parser.ParseFrom(bytes) is var e ? new MicrographFailed(e.CampaignId, e.Name, e.Error) : null!,
        "e-end" => P.CampaignCompleted.Parser.ParseFrom(bytes) is var d ? new CampaignCompleted(d.CampaignId, d.FinishedUnixMs) : null!,
        "snap" => new CoordinatorSnapshot(P.CoordinatorSnapshot.Parser.ParseFrom(bytes).Campaigns.Select(FromProto).ToList()),
        _ => TrainingFromBinary(bytes, manifest),
    };

    private static IMessage ToProto(object o) => o switch
    {
        SubmitCampaign m => new P.SubmitCampaign { Spec = ToProto(m.Spec) },
        CampaignAccepted m => new P.CampaignAccepted { CampaignId = m.CampaignId, Total = m.Total, Done = m.Done, Failed = m.Failed, Resumed = m.Resumed, Particles = m.Particles },
        CampaignRejected m => new P.CampaignRejected { CampaignId = m.CampaignId, Reason = m.Reason },
        GetCampaignStatus m => new P.GetCampaignStatus { CampaignId = m.CampaignId },
        FollowCampaign m => new P.FollowCampaign { CampaignId = m.CampaignId },
        CampaignStatus m => ToProto(m),
        CampaignStatusReport m => new P.CampaignStatusReport { Campaigns = { m.Campaigns.Select(ToProto) } },
        MicrographProgress m => new P.MicrographProgress
        {
            CampaignId = m.CampaignId, Name = m.Name, Failed = m.Failed, Error = m.Error, Particles = m.Particles, Peaks = m.Peaks,
            RejectedByStd = m.RejectedByStd, Positions = m.Positions, ScoringSeconds = m.ScoringSeconds, Node = m.Node, Done = m.Done, Total = m.Total,
        },
        PickTask m => new P.PickTask
        {
            Slot = m.Slot, TaskId = m.TaskId, CampaignId = m.CampaignId, Micrograph = ToProto(m.Micrograph), ModelPath = m.ModelPath,
            ModelSha256 = m.ModelSha256, ModelLength = m.ModelLength, Settings = ToProto(m.Settings),
        },
        TaskStarted m => new P.TaskStarted { Slot = m.Slot, TaskId = m.TaskId, Node = m.Node },
        TaskPicked m => new P.TaskPicked
        {
            Slot = m.Slot, TaskId = m.TaskId, CampaignId = m.CampaignId, Name = m.Name, Node = m.Node, X = { m.X }, Y = { m.Y }, Score = { m.Score },
            Peaks = m.Peaks, RejectedByStd = m.RejectedByStd, Positions = m.Positions, ScoringSeconds = m.ScoringSeconds, TotalSeconds = m.TotalSeconds,
        },
        TaskFailed m => new P.TaskFailed { Slot = m.Slot, TaskId = m.TaskId, CampaignId = m.CampaignId, Name = m.Name, Node = m.Node, Error = m.Error, BadInput = m.BadInput },
        StopSlot => new P.StopSlot(),
        FetchModelChunk m => new P.FetchModelChunk { ModelSha256 = m.ModelSha256, Offset = m.Offset },
        ModelChunk m => new P.ModelChunk { ModelSha256 = m.ModelSha256, Offset = m.Offset, TotalLength = m.TotalLength, Data = ByteString.CopyFrom(m.Data), Error = m.Error },
        CampaignSubmitted m => new P.CampaignSubmitted { Spec = ToProto(m.Spec) },
        MicrographsAdded m => new P.MicrographsAdded { CampaignId = m.CampaignId, Micrographs = { m.Micrographs.Select(ToProto) }, AlreadyDone = { m.AlreadyDone } },
        MicrographPicked m => new P.MicrographPicked { CampaignId = m.CampaignId, Name = m.Name, Node = m.Node, Particles = m.Particles, Seconds = m.Seconds },
        MicrographFailed m => new P.MicrographFailed { CampaignId = m.CampaignId, Name = m.Name, Error = m.Error },
        CampaignCompleted m => new P.CampaignCompleted { CampaignId = m.CampaignId, FinishedUnixMs = m.FinishedUnixMs },
        CoordinatorSnapshot m => new P.CoordinatorSnapshot
        {
            Campaigns =
            {
                m.Campaigns.Select(c => new P.CampaignSnapshot
                {
                    Spec = ToProto(c.Spec), Done = { c.Done.Select(d => d.Name) }, DoneParticles = { c.Done.Select(d => d.Particles) },
                    Failed = { c.Failed.Select(ToProto) }, Nodes = { c.Nodes.Select(ToProto) }, FinishedUnixMs = c.FinishedUnixMs,
                }),
            },
        },
        _ => TrainingToProto(o),
    };

    private static P.MicrographRef ToProto(MicrographRef m) => new() { Name = m.Name, Path = m.Path };

    private static MicrographRef FromProto(P.MicrographRef m) => new(m.Name, m.Path);

    private static P.NodeThroughput ToProto(NodeThroughput n) => new() { Node = n.Node, Micrographs = n.Micrographs, BusySeconds = n.BusySeconds };

    private static NodeThroughput FromProto(P.NodeThroughput n) => new(n.Node, n.Micrographs, n.BusySeconds);

    private static P.FailedMicrograph ToProto(FailedMicrograph f) => new() { Name = f.Name, Error = f.Error };

    private static FailedMicrograph FromProto(P.FailedMicrograph f) => new(f.Name, f.Error);

    private static P.PickSettings ToProto(PickSettings s)
    {
        var p = new P.PickSettings { KeepEdges = s.KeepEdges, StdFilter = s.StdFilter, Naive = s.Naive, Formats = { s.Formats } };
        if (s.Threshold is { } t) p.Threshold = t;
        if (s.Step is { } step) p.Step = step;
        if (s.Distance is { } d) p.Distance = d;
        if (s.StdMin is { } lo) p.StdMin = lo;
        if (s.StdMax is { } hi) p.StdMax = hi;
        return p;
    }

    private static PickSettings FromProto(P.PickSettings p) => new()
    {
        Threshold = p.HasThreshold ? p.Threshold : null,
        Step = p.HasStep ? p.Step : null,
        Distance = p.HasDistance ? p.Distance : null,
        KeepEdges = p.KeepEdges,
        StdFilter = p.StdFilter,
        StdMin = p.HasStdMin ? p.StdMin : null,
        StdMax = p.HasStdMax ? p.StdMax : null,
        Naive = p.Naive,
        Formats = p.Formats.ToList(),
    };

    private static P.CampaignSpec ToProto(CampaignSpec s) => new()
    {
        CampaignId = s.CampaignId, OutDir = s.OutDir, ModelPath = s.ModelPath, ModelSha256 = s.ModelSha256, ModelLength = s.ModelLength,
        Micrographs = { s.Micrographs.Select(ToProto) }, Settings = ToProto(s.Settings), SubmittedUnixMs = s.SubmittedUnixMs, AlreadyDone = { s.AlreadyDone },
    };

    private static CampaignSpec FromProto(P.CampaignSpec s) => new(
        s.CampaignId, s.OutDir, s.ModelPath, s.ModelSha256, s.ModelLength, s.Micrographs.Select(FromProto).ToList(),
        FromProto(s.Settings ?? new P.PickSettings()), s.SubmittedUnixMs, s.AlreadyDone.ToList());

    private static P.CampaignStatus ToProto(CampaignStatus m) => new()
    {
        CampaignId = m.CampaignId, OutDir = m.OutDir, Total = m.Total, Done = m.Done, Skipped = m.Skipped, Failed = m.Failed, InFlight = m.InFlight,
        Pending = m.Pending, Complete = m.Complete, SubmittedUnixMs = m.SubmittedUnixMs, FinishedUnixMs = m.FinishedUnixMs, Particles = m.Particles,
        Nodes = { m.Nodes.Select(ToProto) }, Failures = { m.Failures.Select(ToProto) }, PickedSinceRecovery = m.PickedSinceRecovery,
        CoordinatorMsPerMicrograph = m.CoordinatorMsPerMicrograph,
    };

    private static CampaignStatus FromProto(P.CampaignStatus m) => new()
    {
        CampaignId = m.CampaignId, OutDir = m.OutDir, Total = m.Total, Done = m.Done, Skipped = m.Skipped, Failed = m.Failed, InFlight = m.InFlight,
        Pending = m.Pending, Complete = m.Complete, SubmittedUnixMs = m.SubmittedUnixMs, FinishedUnixMs = m.FinishedUnixMs, Particles = m.Particles,
        Nodes = m.Nodes.Select(FromProto).ToList(), Failures = m.Failures.Select(FromProto).ToList(), PickedSinceRecovery = m.PickedSinceRecovery,
        CoordinatorMsPerMicrograph = m.CoordinatorMsPerMicrograph,
    };

    private static MicrographProgress FromProto(P.MicrographProgress m) => new()
    {
        CampaignId = m.CampaignId, Name = m.Name, Failed = m.Failed, Error = m.Error, Particles = m.Particles, Peaks = m.Peaks,
        RejectedByStd = m.RejectedByStd, Positions = m.Positions, ScoringSeconds = m.ScoringSeconds, Node = m.Node, Done = m.Done, Total = m.Total,
    };

    private static PickTask FromProto(P.PickTask m) => new(
        m.Slot, m.TaskId, m.CampaignId, FromProto(m.Micrograph ?? new P.MicrographRef()), m.ModelPath, m.ModelSha256, m.ModelLength,
        FromProto(m.Settings ?? new P.PickSettings()));

    private static TaskPicked FromProto(P.TaskPicked m) => new()
    {
        Slot = m.Slot, TaskId = m.TaskId, CampaignId = m.CampaignId, Name = m.Name, Node = m.Node, X = m.X.ToArray(), Y = m.Y.ToArray(),
        Score = m.Score.ToArray(), Peaks = m.Peaks, RejectedByStd = m.RejectedByStd, Positions = m.Positions, ScoringSeconds = m.ScoringSeconds,
        TotalSeconds = m.TotalSeconds,
    };

    private static CampaignSnapshot FromProto(P.CampaignSnapshot c)
    {
        if (c.DoneParticles.Count != c.Done.Count) throw new System.Runtime.Serialization.SerializationException("campaign snapshot: done and done_particles differ in length");
        return new CampaignSnapshot(FromProto(c.Spec), c.Done.Zip(c.DoneParticles).ToList(), c.Failed.Select(FromProto).ToList(),
            c.Nodes.Select(FromProto).ToList(), c.FinishedUnixMs);
    }
}
