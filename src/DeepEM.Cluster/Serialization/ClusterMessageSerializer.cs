using Akka.Actor;
using Akka.Serialization;
using DeepEM.Cluster.Protocol;
using DeepEM.Formats.Coordinates;
using DeepEM.Pipeline.Picking;
using Google.Protobuf;
using P = DeepEM.Cluster.Serialization.Proto;

namespace DeepEM.Cluster.Serialization;

/// <summary>
/// The one serializer of this module: every <see cref="IClusterMessage"/> to and from the protobuf messages of
/// protos/cluster.proto and protos/training.proto, named by a short string manifest. Bound to the marker interface in hocon/base.conf.
/// A manifest this version does not know is an error, never a guess.
/// </summary>
internal sealed partial class ClusterMessageSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
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
        EndWatch => "unw",
        CampaignStatus => "st",
        CampaignStatusReport => "str",
        MicrographProgress => "prog",
        MicrographProgressBatch => "progs",
        PickTask => "task",
        TaskAccepted => "tac",
        TaskReturned => "tret",
        TaskPicked => "tpk",
        TaskFailed => "tfl",
        StopSlot => "stop",
        // "fmc"/"mc" from when they were FetchModelChunk/ModelChunk: manifests are on the wire, so they stay.
        FetchBlobChunk => "fmc",
        BlobChunk => "mc",
        CampaignSubmitted => "e-sub",
        MicrographsAdded => "e-add",
        MicrographsPicked => "e-pks",
        MicrographPicked => "e-pk",
        MicrographFailed => "e-fl",
        CampaignCompleted => "e-end",
        CampaignWatched => "e-wat",
        CampaignOutputsWritten => "e-out",
        CoordinatorSnapshot => "snap2",
        _ => TrainingManifest(o),
    };

    public override byte[] ToBinary(object o) => ToProto(o).ToByteArray();

    public override object FromBinary(byte[] bytes, string manifest) => manifest switch
    {
        "sub" => P.SubmitCampaign.Parser.ParseFrom(bytes) is var sub ? new SubmitCampaign(FromProto(sub.Spec), sub.Watch, sub.Batch) : null!,
        "acc" => P.CampaignAccepted.Parser.ParseFrom(bytes) is var a
            ? new CampaignAccepted(a.CampaignId, a.Total, a.Done, a.Failed, a.Resumed, a.Particles) { Batch = a.Batch } : null!,
        "rej" => P.CampaignRejected.Parser.ParseFrom(bytes) is var r ? new CampaignRejected(r.CampaignId, r.Reason) : null!,
        "get" => new GetCampaignStatus(P.GetCampaignStatus.Parser.ParseFrom(bytes).CampaignId),
        "fol" => new FollowCampaign(P.FollowCampaign.Parser.ParseFrom(bytes).CampaignId),
        "unw" => new EndWatch(P.EndWatch.Parser.ParseFrom(bytes).CampaignId),
        "st" => FromProto(P.CampaignStatus.Parser.ParseFrom(bytes)),
        "str" => new CampaignStatusReport(P.CampaignStatusReport.Parser.ParseFrom(bytes).Campaigns.Select(FromProto).ToList()),
        "prog" => FromProto(P.MicrographProgress.Parser.ParseFrom(bytes)),
        "progs" => new MicrographProgressBatch(P.MicrographProgressBatch.Parser.ParseFrom(bytes).Items.Select(FromProto).ToList()),
        "task" => FromProto(P.PickTask.Parser.ParseFrom(bytes)),
        "tac" => P.TaskAccepted.Parser.ParseFrom(bytes) is var s ? new TaskAccepted(s.Slot, s.TaskId, s.Node) : null!,
        "tret" => P.TaskReturned.Parser.ParseFrom(bytes) is var t ? new TaskReturned(t.Slot, t.TaskId) : null!,
        "tpk" => FromProto(P.TaskPicked.Parser.ParseFrom(bytes)),
        "tfl" => P.TaskFailed.Parser.ParseFrom(bytes) is var f ? new TaskFailed(f.Slot, f.TaskId, f.CampaignId, f.Index, f.Name, f.Node, f.Error, f.BadInput) : null!,
        "stop" => StopSlot.Instance,
        "fmc" => P.FetchBlobChunk.Parser.ParseFrom(bytes) is var q ? new FetchBlobChunk(q.Sha256, q.Offset) : null!,
        "mc" => P.BlobChunk.Parser.ParseFrom(bytes) is var c ? new BlobChunk(c.Sha256, c.Offset, c.TotalLength, c.Data.ToByteArray(), c.Error) : null!,
        "e-sub" => new CampaignSubmitted(FromProto(P.CampaignSubmitted.Parser.ParseFrom(bytes).Spec)),
        "e-add" => P.MicrographsAdded.Parser.ParseFrom(bytes) is var m
            ? new MicrographsAdded(m.CampaignId, Micrographs(m.MicrographList, m.Micrographs), m.AlreadyDone.ToList()) : null!,
        "e-pks" => FromProto(P.MicrographsPicked.Parser.ParseFrom(bytes)),
        "e-pk" => P.MicrographPicked.Parser.ParseFrom(bytes) is var p ? new MicrographPicked(p.CampaignId, p.Name, p.Node, p.Particles, p.Seconds) : null!,
        "e-fl" => P.MicrographFailed.Parser.ParseFrom(bytes) is var e ? new MicrographFailed(e.CampaignId, e.Name, e.Error, e.HasIndex ? e.Index : null) : null!,
        "e-end" => P.CampaignCompleted.Parser.ParseFrom(bytes) is var d ? new CampaignCompleted(d.CampaignId, d.FinishedUnixMs) { OutputsFollow = d.OutputsFollow } : null!,
        "e-out" => new CampaignOutputsWritten(P.CampaignOutputsWritten.Parser.ParseFrom(bytes).CampaignId),
        "e-wat" => P.CampaignWatched.Parser.ParseFrom(bytes) is var w ? new CampaignWatched(w.CampaignId, w.Watching) : null!,
        "snap2" => new CoordinatorSnapshot(P.CoordinatorSnapshotV2.Parser.ParseFrom(bytes).Campaigns.Select(FromProto).ToList()),
        "snap" => new CoordinatorSnapshot(P.CoordinatorSnapshot.Parser.ParseFrom(bytes).Campaigns.Select(FromLegacyProto).ToList()),
        _ => TrainingFromBinary(bytes, manifest),
    };

    private static IMessage ToProto(object o) => o switch
    {
        SubmitCampaign m => new P.SubmitCampaign { Spec = ToProto(m.Spec), Watch = m.Watch, Batch = m.Batch },
        CampaignAccepted m => new P.CampaignAccepted
        {
            CampaignId = m.CampaignId, Total = m.Total, Done = m.Done, Failed = m.Failed, Resumed = m.Resumed, Particles = m.Particles, Batch = m.Batch,
        },
        CampaignRejected m => new P.CampaignRejected { CampaignId = m.CampaignId, Reason = m.Reason },
        GetCampaignStatus m => new P.GetCampaignStatus { CampaignId = m.CampaignId },
        FollowCampaign m => new P.FollowCampaign { CampaignId = m.CampaignId },
        EndWatch m => new P.EndWatch { CampaignId = m.CampaignId },
        CampaignStatus m => ToProto(m),
        CampaignStatusReport m => new P.CampaignStatusReport { Campaigns = { m.Campaigns.Select(ToProto) } },
        MicrographProgress m => ToProto(m),
        MicrographProgressBatch m => new P.MicrographProgressBatch { Items = { m.Items.Select(ToProto) } },
        PickTask m => new P.PickTask
        {
            Slot = m.Slot, TaskId = m.TaskId, Epoch = m.Epoch, CampaignId = m.CampaignId, Index = m.Index, Micrograph = ToProto(m.Micrograph), OutDir = m.OutDir,
            ModelPath = m.ModelPath, ModelSha256 = m.ModelSha256, ModelLength = m.ModelLength, Settings = ToProto(m.Settings, m.Formats),
        },
        TaskAccepted m => new P.TaskAccepted { Slot = m.Slot, TaskId = m.TaskId, Node = m.Node },
        TaskReturned m => new P.TaskReturned { Slot = m.Slot, TaskId = m.TaskId },
        TaskPicked m => new P.TaskPicked
        {
            Slot = m.Slot, TaskId = m.TaskId, CampaignId = m.CampaignId, Index = m.Index, Name = m.Name, Node = m.Node, Particles = m.Particles,
            Peaks = m.Peaks, RejectedByStd = m.RejectedByStd, Positions = m.Positions, ScoringSeconds = m.ScoringSeconds, TotalSeconds = m.TotalSeconds,
        },
        TaskFailed m => new P.TaskFailed
        {
            Slot = m.Slot, TaskId = m.TaskId, CampaignId = m.CampaignId, Index = m.Index, Name = m.Name, Node = m.Node, Error = m.Error, BadInput = m.BadInput,
        },
        StopSlot => new P.StopSlot(),
        FetchBlobChunk m => new P.FetchBlobChunk { Sha256 = m.Sha256, Offset = m.Offset },
        BlobChunk m => new P.BlobChunk { Sha256 = m.Sha256, Offset = m.Offset, TotalLength = m.TotalLength, Data = ByteString.CopyFrom(m.Data), Error = m.Error },
        CampaignSubmitted m => new P.CampaignSubmitted { Spec = ToProto(m.Spec) },
        MicrographsAdded m => new P.MicrographsAdded { CampaignId = m.CampaignId, MicrographList = ToProto(m.Micrographs), AlreadyDone = { m.AlreadyDone } },
        MicrographsPicked m => ToProto(m),
        MicrographPicked m => new P.MicrographPicked { CampaignId = m.CampaignId, Name = m.Name, Node = m.Node, Particles = m.Particles, Seconds = m.Seconds },
        MicrographFailed m => m.Index is { } index
            ? new P.MicrographFailed { CampaignId = m.CampaignId, Name = m.Name, Error = m.Error, Index = index }
            : new P.MicrographFailed { CampaignId = m.CampaignId, Name = m.Name, Error = m.Error },
        CampaignCompleted m => new P.CampaignCompleted { CampaignId = m.CampaignId, FinishedUnixMs = m.FinishedUnixMs, OutputsFollow = m.OutputsFollow },
        CampaignOutputsWritten m => new P.CampaignOutputsWritten { CampaignId = m.CampaignId },
        CampaignWatched m => new P.CampaignWatched { CampaignId = m.CampaignId, Watching = m.Watching },
        CoordinatorSnapshot m => new P.CoordinatorSnapshotV2
        {
            Campaigns =
            {
                m.Campaigns.Select(c => new P.CampaignSnapshotV2
                {
                    Spec = ToProto(c.Spec), Settled = ByteString.CopyFrom(c.Settled), DoneParticles = { c.DoneParticles },
                    FailedIndex = { c.Failures.Select(f => f.Index) }, FailedError = { c.Failures.Select(f => f.Error) },
                    Nodes = { c.Nodes.Select(ToProto) }, FinishedUnixMs = c.FinishedUnixMs, Watching = c.Watching,
                    DoneLatencySeconds = { c.DoneLatencies }, OutputsPending = c.OutputsPending,
                }),
            },
        },
        _ => TrainingToProto(o),
    };

    private static P.MicrographRef ToProto(MicrographRef m) => new() { Name = m.Name, Path = m.Path, ArrivedUnixMs = m.ArrivedUnixMs };

    private static MicrographRef FromProto(P.MicrographRef m) => new(m.Name, m.Path) { ArrivedUnixMs = m.ArrivedUnixMs };

    private static P.NodeThroughput ToProto(NodeThroughput n) => new() { Node = n.Node, Micrographs = n.Micrographs, BusySeconds = n.BusySeconds };

    private static NodeThroughput FromProto(P.NodeThroughput n) => new(n.Node, n.Micrographs, n.BusySeconds);

    private static P.FailedMicrograph ToProto(FailedMicrograph f) => new() { Name = f.Name, Error = f.Error };

    private static FailedMicrograph FromProto(P.FailedMicrograph f) => new(f.Name, f.Error);

    // The formats travel in the settings' message (where journals written before kept them), beside the scoring parameters.
    private static P.PickSettings ToProto(PickSettings s, IReadOnlyList<CoordinateFormat> formats)
    {
        var p = new P.PickSettings
        {
            KeepEdges = s.Edge == EdgeMode.Keep, StdFilter = s.StdFilter, Naive = s.Naive, Formats = { formats.Select(f => f.ToString().ToLowerInvariant()) },
        };
        if (s.Threshold is { } t) p.Threshold = t;
        if (s.Step is { } step) p.Step = step;
        if (s.Distance is { } d) p.Distance = d;
        if (s.StdRange is { } range) (p.StdMin, p.StdMax) = range;
        return p;
    }

    private static PickSettings FromProto(P.PickSettings p) => new()
    {
        Threshold = p.HasThreshold ? p.Threshold : null,
        Step = p.HasStep ? p.Step : null,
        Distance = p.HasDistance ? p.Distance : null,
        Edge = p.KeepEdges ? EdgeMode.Keep : EdgeMode.Drop,
        StdFilter = p.StdFilter,
        StdRange = p.HasStdMin && p.HasStdMax ? (p.StdMin, p.StdMax) : null,
        Naive = p.Naive,
    };

    private static IReadOnlyList<CoordinateFormat> FormatsOf(P.PickSettings p) =>
        [.. p.Formats.Select(n => Enum.TryParse<CoordinateFormat>(n, ignoreCase: true, out var f) ? f : throw new System.Runtime.Serialization.SerializationException($"unknown pick format '{n}'"))];

    private static P.CampaignSpec ToProto(CampaignSpec s) => new()
    {
        CampaignId = s.CampaignId, OutDir = s.OutDir, ModelPath = s.ModelPath, ModelSha256 = s.ModelSha256, ModelLength = s.ModelLength,
        MicrographList = ToProto(s.Micrographs), Settings = ToProto(s.Settings, s.Formats), SubmittedUnixMs = s.SubmittedUnixMs, AlreadyDone = { s.AlreadyDone },
        ProjectDir = s.ProjectDir ?? "",
    };

    private static CampaignSpec FromProto(P.CampaignSpec s) => new(
        s.CampaignId, s.OutDir, s.ModelPath, s.ModelSha256, s.ModelLength, Micrographs(s.MicrographList, s.Micrographs),
        FromProto(s.Settings ?? new P.PickSettings()), s.SubmittedUnixMs, s.AlreadyDone.ToList())
    {
        ProjectDir = s.ProjectDir.Length > 0 ? s.ProjectDir : null,
        Formats = FormatsOf(s.Settings ?? new P.PickSettings()),
    };

    /// <summary>A list of micrographs, compactly: a table of folders, and per micrograph its folder, file and (only where it
    /// is not the file name without its extension) its name.</summary>
    private static P.MicrographList ToProto(IReadOnlyList<MicrographRef> micrographs)
    {
        var list = new P.MicrographList();
        var folders = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var m in micrographs)
        {
            var slash = m.Path.LastIndexOf('/');
            var file = slash < 0 ? m.Path : m.Path[(slash + 1)..];
            var folder = -1;
            if (slash >= 0 && !folders.TryGetValue(m.Path[..slash], out folder))
            {
                folders[m.Path[..slash]] = folder = list.Folders.Count;
                list.Folders.Add(m.Path[..slash]);
            }
            if (m.Name != Path.GetFileNameWithoutExtension(file))
            {
                list.NamedIndex.Add(list.Files.Count);
                list.Named.Add(m.Name);
            }
            if (m.Listed is not null)
            {
                list.ListedIndex.Add(list.Files.Count);
                list.Listed.Add(m.Listed);
            }
            if (m.ArrivedUnixMs != 0)
            {
                list.ArrivedIndex.Add(list.Files.Count);
                list.ArrivedUnixMs.Add(m.ArrivedUnixMs);
            }
            list.Folder.Add(folder);
            list.Files.Add(file);
        }
        return list;
    }

    private static List<MicrographRef> Micrographs(P.MicrographList? list, IEnumerable<P.MicrographRef> legacy)
    {
        var result = legacy.Select(FromProto).ToList();
        if (list is null) return result;
        if (list.Folder.Count != list.Files.Count || list.NamedIndex.Count != list.Named.Count || list.ListedIndex.Count != list.Listed.Count
            || list.ArrivedIndex.Count != list.ArrivedUnixMs.Count)
        {
            throw new System.Runtime.Serialization.SerializationException("micrograph list: folders and files, or indices and their values, differ in length");
        }
        var named = new Dictionary<int, string>();
        for (var i = 0; i < list.NamedIndex.Count; i++) named[list.NamedIndex[i]] = list.Named[i];
        var listed = new Dictionary<int, string>();
        for (var i = 0; i < list.ListedIndex.Count; i++) listed[list.ListedIndex[i]] = list.Listed[i];
        var arrived = new Dictionary<int, long>();
        for (var i = 0; i < list.ArrivedIndex.Count; i++) arrived[list.ArrivedIndex[i]] = list.ArrivedUnixMs[i];
        for (var i = 0; i < list.Files.Count; i++)
        {
            var file = list.Files[i];
            var folder = list.Folder[i];
            if (folder >= list.Folders.Count) throw new System.Runtime.Serialization.SerializationException($"micrograph list: folder {folder} of {list.Folders.Count}");
            var path = folder < 0 ? file : list.Folders[folder] + "/" + file;
            result.Add(new MicrographRef(named.TryGetValue(i, out var name) ? name : Path.GetFileNameWithoutExtension(file), path)
            {
                Listed = listed.GetValueOrDefault(i),
                ArrivedUnixMs = arrived.GetValueOrDefault(i),
            });
        }
        return result;
    }

    private static P.MicrographsPicked ToProto(MicrographsPicked m)
    {
        var p = new P.MicrographsPicked { CampaignId = m.CampaignId };
        var nodes = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var picked in m.Micrographs)
        {
            if (!nodes.TryGetValue(picked.Node, out var node))
            {
                nodes[picked.Node] = node = p.Nodes.Count;
                p.Nodes.Add(picked.Node);
            }
            p.Index.Add(picked.Index);
            p.Particles.Add(picked.Particles);
            p.Seconds.Add(picked.Seconds);
            p.Node.Add(node);
        }
        // Only campaigns that watched arrivals have latencies: the others keep their events as they were.
        if (m.Micrographs.Any(picked => picked.LatencySeconds != 0)) p.LatencySeconds.AddRange(m.Micrographs.Select(picked => picked.LatencySeconds));
        return p;
    }

    private static MicrographsPicked FromProto(P.MicrographsPicked p)
    {
        var n = p.Index.Count;
        if (p.Particles.Count != n || p.Seconds.Count != n || p.Node.Count != n || p.Node.Any(i => i < 0 || i >= p.Nodes.Count)
            || p.LatencySeconds.Count is var l && l != 0 && l != n)
        {
            throw new System.Runtime.Serialization.SerializationException("micrographs picked: the lists differ in length or name an unknown node");
        }
        return new MicrographsPicked(p.CampaignId, Enumerable.Range(0, n).Select(i => new PickedMicrograph(p.Index[i], p.Particles[i], p.Seconds[i], p.Nodes[p.Node[i]],
            p.LatencySeconds.Count == n ? p.LatencySeconds[i] : 0)).ToList());
    }

    private static P.CampaignStatus ToProto(CampaignStatus m) => new()
    {
        CampaignId = m.CampaignId, OutDir = m.OutDir, Total = m.Total, Done = m.Done, Skipped = m.Skipped, Failed = m.Failed, InFlight = m.InFlight,
        Pending = m.Pending, Complete = m.Complete, SubmittedUnixMs = m.SubmittedUnixMs, FinishedUnixMs = m.FinishedUnixMs, Particles = m.Particles,
        Nodes = { m.Nodes.Select(ToProto) }, Failures = { m.Failures.Select(ToProto) }, PickedSinceRecovery = m.PickedSinceRecovery,
        CoordinatorMsPerMicrograph = m.CoordinatorMsPerMicrograph, Watching = m.Watching, Arrived = m.Arrived, LatencyCount = m.LatencyCount,
        LatencyMedianSeconds = m.LatencyMedianSeconds, LatencyP95Seconds = m.LatencyP95Seconds, LatencyMaxSeconds = m.LatencyMaxSeconds,
    };

    private static CampaignStatus FromProto(P.CampaignStatus m) => new()
    {
        CampaignId = m.CampaignId, OutDir = m.OutDir, Total = m.Total, Done = m.Done, Skipped = m.Skipped, Failed = m.Failed, InFlight = m.InFlight,
        Pending = m.Pending, Complete = m.Complete, SubmittedUnixMs = m.SubmittedUnixMs, FinishedUnixMs = m.FinishedUnixMs, Particles = m.Particles,
        Nodes = m.Nodes.Select(FromProto).ToList(), Failures = m.Failures.Select(FromProto).ToList(), PickedSinceRecovery = m.PickedSinceRecovery,
        CoordinatorMsPerMicrograph = m.CoordinatorMsPerMicrograph, Watching = m.Watching, Arrived = m.Arrived, LatencyCount = m.LatencyCount,
        LatencyMedianSeconds = m.LatencyMedianSeconds, LatencyP95Seconds = m.LatencyP95Seconds, LatencyMaxSeconds = m.LatencyMaxSeconds,
    };

    private static P.MicrographProgress ToProto(MicrographProgress m) => new()
    {
        CampaignId = m.CampaignId, Name = m.Name, Failed = m.Failed, Error = m.Error, Particles = m.Particles, Peaks = m.Peaks,
        RejectedByStd = m.RejectedByStd, Positions = m.Positions, ScoringSeconds = m.ScoringSeconds, Node = m.Node, Done = m.Done, Total = m.Total,
    };

    private static MicrographProgress FromProto(P.MicrographProgress m) => new()
    {
        CampaignId = m.CampaignId, Name = m.Name, Failed = m.Failed, Error = m.Error, Particles = m.Particles, Peaks = m.Peaks,
        RejectedByStd = m.RejectedByStd, Positions = m.Positions, ScoringSeconds = m.ScoringSeconds, Node = m.Node, Done = m.Done, Total = m.Total,
    };

    private static PickTask FromProto(P.PickTask m) => new(
        m.Slot, m.TaskId, m.Epoch, m.CampaignId, m.Index, FromProto(m.Micrograph ?? new P.MicrographRef()), m.OutDir, m.ModelPath, m.ModelSha256,
        m.ModelLength, FromProto(m.Settings ?? new P.PickSettings()), FormatsOf(m.Settings ?? new P.PickSettings()));

    private static TaskPicked FromProto(P.TaskPicked m) => new()
    {
        Slot = m.Slot, TaskId = m.TaskId, CampaignId = m.CampaignId, Index = m.Index, Name = m.Name, Node = m.Node, Particles = m.Particles,
        Peaks = m.Peaks, RejectedByStd = m.RejectedByStd, Positions = m.Positions, ScoringSeconds = m.ScoringSeconds, TotalSeconds = m.TotalSeconds,
    };

    private static CampaignSnapshot FromProto(P.CampaignSnapshotV2 c)
    {
        var spec = FromProto(c.Spec);
        var settled = c.Settled.ToByteArray();
        if (settled.Length != spec.Micrographs.Count || settled.Count(b => b == (byte)Settlement.Done) != c.DoneParticles.Count
            || c.FailedIndex.Count != c.FailedError.Count || c.FailedIndex.Any(i => i < 0 || i >= settled.Length)
            || c.DoneLatencySeconds.Count != 0 && c.DoneLatencySeconds.Count != c.DoneParticles.Count)
        {
            throw new System.Runtime.Serialization.SerializationException($"campaign snapshot {spec.CampaignId}: its lists do not fit its {spec.Micrographs.Count} micrographs");
        }
        return new CampaignSnapshot(spec, settled, c.DoneParticles.ToList(), c.FailedIndex.Zip(c.FailedError).ToList(), c.Nodes.Select(FromProto).ToList(),
            c.FinishedUnixMs)
        {
            Watching = c.Watching,
            OutputsPending = c.OutputsPending,
            DoneLatencies = c.DoneLatencySeconds.ToList(),
        };
    }

    /// <summary>A snapshot of an older version, which named done and failed micrographs: in today's form.</summary>
    private static CampaignSnapshot FromLegacyProto(P.CampaignSnapshot c)
    {
        if (c.DoneParticles.Count != c.Done.Count) throw new System.Runtime.Serialization.SerializationException("campaign snapshot: done and done_particles differ in length");
        var spec = FromProto(c.Spec);
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < spec.Micrographs.Count; i++) index[spec.Micrographs[i].Name] = i;
        var skipped = spec.AlreadyDone.ToHashSet(StringComparer.Ordinal);
        var settled = spec.Micrographs.Select(m => (byte)(skipped.Contains(m.Name) ? Settlement.Skipped : Settlement.Open)).ToArray();
        var particles = new int[settled.Length];
        foreach (var (name, count) in c.Done.Zip(c.DoneParticles))
        {
            if (!index.TryGetValue(name, out var i)) continue;
            settled[i] = (byte)Settlement.Done;
            particles[i] = count;
        }
        var failures = new List<(int, string)>();
        foreach (var f in c.Failed)
        {
            if (!index.TryGetValue(f.Name, out var i)) continue;
            settled[i] = (byte)Settlement.Failed;
            failures.Add((i, f.Error));
        }
        var done = Enumerable.Range(0, settled.Length).Where(i => settled[i] == (byte)Settlement.Done).Select(i => particles[i]).ToList();
        return new CampaignSnapshot(spec with { AlreadyDone = [] }, settled, done, failures, c.Nodes.Select(FromProto).ToList(), c.FinishedUnixMs);
    }
}
