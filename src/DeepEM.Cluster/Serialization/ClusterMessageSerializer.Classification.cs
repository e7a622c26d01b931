using System.Runtime.InteropServices;
using DeepEM.Classification.Steps;
using DeepEM.Cluster.Protocol;
using DeepEM.Formats.Coordinates;
using DeepEM.Pipeline.Classification;
using Google.Protobuf;
using P = DeepEM.Cluster.Serialization.Proto;

namespace DeepEM.Cluster.Serialization;

/// <summary>The classification messages (protos/classification.proto); manifests start with "c".</summary>
internal sealed partial class ClusterMessageSerializer
{
    private static string ClassificationManifest(object o) => o switch
    {
        LoadParticleShard => "c-load",
        ParticleShardLoaded => "c-ld",
        ClassificationTask => "c-task",
        ClassificationPart => "c-part",
        ClassificationRefused => "c-no",
        ForgetClassification => "c-end",
        _ => throw new ArgumentException($"{o.GetType()} is not a message of the DeepEM cluster"),
    };

    private static object ClassificationFromBinary(byte[] bytes, string manifest) => manifest switch
    {
        "c-load" => P.LoadParticleShard.Parser.ParseFrom(bytes) is var l ? new LoadParticleShard(l.JobId, FromProto(l.Settings), FromProto(l.Shard)) : null!,
        "c-ld" => P.ParticleShardLoaded.Parser.ParseFrom(bytes) is var d ? new ParticleShardLoaded(d.JobId, d.Shard, d.Node, d.Particles, d.Skipped, d.Failures.ToList()) : null!,
        "c-task" => P.ClassificationTask.Parser.ParseFrom(bytes) is var t ? new ClassificationTask(t.JobId, t.Shards.ToArray(), FromProto(t.Step)) : null!,
        "c-part" => P.ClassificationPart.Parser.ParseFrom(bytes) is var p ? new ClassificationPart(p.JobId, p.Step, p.Node, p.Seconds, FromProto(p.Result)) : null!,
        "c-no" => P.ClassificationRefused.Parser.ParseFrom(bytes) is var r ? new ClassificationRefused(r.JobId, r.Step, r.Shard, r.Node, r.Reason) : null!,
        "c-end" => new ForgetClassification(P.ForgetClassification.Parser.ParseFrom(bytes).JobId),
        _ => throw new System.Runtime.Serialization.SerializationException($"unknown manifest '{manifest}': a message from a newer version of deepem?"),
    };

    private static IMessage ClassificationToProto(object o) => o switch
    {
        LoadParticleShard m => new P.LoadParticleShard { JobId = m.JobId, Settings = ToProto(m.Settings), Shard = ToProto(m.Shard) },
        ParticleShardLoaded m => new P.ParticleShardLoaded { JobId = m.JobId, Shard = m.Shard, Node = m.Node, Particles = m.Particles, Skipped = m.Skipped, Failures = { m.Failures } },
        ClassificationTask m => new P.ClassificationTask { JobId = m.JobId, Shards = { m.Shards }, Step = ToProto(m.Step) },
        ClassificationPart m => new P.ClassificationPart { JobId = m.JobId, Step = m.Step, Node = m.Node, Seconds = m.Seconds, Result = ToProto(m.Result) },
        ClassificationRefused m => new P.ClassificationRefused { JobId = m.JobId, Step = m.Step, Shard = m.Shard, Node = m.Node, Reason = m.Reason },
        ForgetClassification m => new P.ForgetClassification { JobId = m.JobId },
        _ => throw new ArgumentException($"{o.GetType()} is not a message of the DeepEM cluster"),
    };

    private static P.ExtractionSettings ToProto(ExtractionSettings s) =>
        new() { Box = s.Box, Binning = s.Binning, MaskDiameter = s.MaskDiameter, MaxShift = s.MaxShift };

    private static ExtractionSettings FromProto(P.ExtractionSettings s) => new(s.Box, s.Binning, s.MaskDiameter, s.MaxShift);

    private static P.ParticleShardSpec ToProto(ParticleShardSpec s) => new()
    {
        Index = s.Index,
        Micrographs =
        {
            s.Micrographs.Select(m => new P.MicrographPicks
            {
                Path = m.Path, Name = m.Name, X = Bytes(m.Picks.Select(p => p.X).ToArray()), Y = Bytes(m.Picks.Select(p => p.Y).ToArray()),
                Score = Bytes(m.Picks.Select(p => p.Score ?? double.NaN).ToArray()),
            }),
        },
    };

    private static ParticleShardSpec FromProto(P.ParticleShardSpec s) => new(s.Index, s.Micrographs.Select(m =>
    {
        var x = Doubles(m.X);
        var y = Doubles(m.Y);
        var score = Doubles(m.Score);
        if (y.Length != x.Length || score.Length != x.Length) throw new System.Runtime.Serialization.SerializationException($"micrograph {m.Name}: pick columns of unequal length");
        return new MicrographPicks(m.Path, m.Name, x.Select((v, i) => new Pick(v, y[i], double.IsNaN(score[i]) ? null : score[i])).ToList());
    }).ToList());

    private static P.Projection ToProto(Projection p) => new() { Mean = Bytes(p.Mean), Basis = Bytes(p.Basis), Components = p.Components };

    private static Projection FromProto(P.Projection p) => new(Floats(p.Mean), Floats(p.Basis), p.Components);

    private static P.ClusterStep ToProto(ClusterStep s) => new() { Number = s.Number, Projection = ToProto(s.Projection), Centroids = Bytes(s.Centroids), Clusters = s.Clusters };

    private static ClusterStep FromProto(P.ClusterStep s) => new(s.Number, FromProto(s.Projection), Floats(s.Centroids), s.Clusters);

    private static P.ClassificationStep ToProto(ClassificationStep step)
    {
        var p = new P.ClassificationStep { Number = step.Number };
        switch (step)
        {
            case FeatureStep:
                p.Features = new P.FeatureStep();
                break;
            case SampleStep s:
                p.Sample = new P.SampleStep { Projection = ToProto(s.Projection), Fraction = s.Fraction, Seed = s.Seed };
                break;
            case ClusterStep s:
                p.Cluster = ToProto(s);
                break;
            case SeedStep s:
                p.Seed = new P.SeedStep { Projection = ToProto(s.Projection), Centroids = Bytes(s.Centroids), Clusters = s.Clusters };
                break;
            case AlignStep s:
                p.Align = new P.AlignStep { References = Bytes(s.References), Classes = s.Classes, Restrict = s.Restrict is { } r ? ToProto(r) : null, Assignments = s.Assignments };
                break;
            default:
                throw new ArgumentException($"{step.GetType()} is not a classification step");
        }
        return p;
    }

    private static ClassificationStep FromProto(P.ClassificationStep p) => p.KindCase switch
    {
        P.ClassificationStep.KindOneofCase.Features => new FeatureStep(p.Number),
        P.ClassificationStep.KindOneofCase.Sample => new SampleStep(p.Number, FromProto(p.Sample.Projection), p.Sample.Fraction, p.Sample.Seed),
        P.ClassificationStep.KindOneofCase.Cluster => FromProto(p.Cluster) with { Number = p.Number },
        P.ClassificationStep.KindOneofCase.Seed => new SeedStep(p.Number, FromProto(p.Seed.Projection), Floats(p.Seed.Centroids), p.Seed.Clusters),
        P.ClassificationStep.KindOneofCase.Align => new AlignStep(p.Number, Floats(p.Align.References), p.Align.Classes,
            p.Align.Restrict is { } r ? FromProto(r) : null, p.Align.Assignments),
        _ => throw new System.Runtime.Serialization.SerializationException($"classification step of unknown kind {p.KindCase}: a message from a newer version of deepem?"),
    };

    private static P.ShardResult ToProto(ShardResult result)
    {
        var p = new P.ShardResult { Shard = result.Shard };
        switch (result)
        {
            case FeatureSums r:
                p.Features = new P.FeatureSums { Count = r.Count, Sum = Bytes(r.Sum), Outer = Bytes(r.Outer) };
                break;
            case FeatureSample r:
                p.Sample = new P.FeatureSample { Particles = { r.Particles }, Features = Bytes(r.Features) };
                break;
            case ClusterSums r:
                p.Cluster = new P.ClusterSums { Counts = { r.Counts }, Sums = Bytes(r.Sums), Inertia = r.Inertia };
                break;
            case ClusterSeeds r:
                p.Seeds = new P.ClusterSeeds { Distances = Bytes(r.Distances), Particles = { r.Particles }, Images = Bytes(r.Images) };
                break;
            case ClassSums r:
                var c = new P.ClassSums { Counts = { r.Counts }, Sums = Bytes(r.Sums), Scores = Bytes(r.Scores), HasAssigned = r.Assigned is not null };
                if (r.Assigned is { } a)
                {
                    c.Source.AddRange(a.Select(x => x.Source));
                    c.Class.AddRange(a.Select(x => x.Class));
                    c.Psi = Bytes(a.Select(x => x.PsiDegrees).ToArray());
                    c.ShiftX = Bytes(a.Select(x => x.ShiftX).ToArray());
                    c.ShiftY = Bytes(a.Select(x => x.ShiftY).ToArray());
                    c.Score = Bytes(a.Select(x => x.Score).ToArray());
                }
                p.Classes = c;
                break;
            default:
                throw new ArgumentException($"{result.GetType()} is not a classification part");
        }
        return p;
    }

    private static ShardResult FromProto(P.ShardResult p) => p.KindCase switch
    {
        P.ShardResult.KindOneofCase.Features => new FeatureSums(p.Shard, p.Features.Count, Doubles(p.Features.Sum), Doubles(p.Features.Outer)),
        P.ShardResult.KindOneofCase.Sample => new FeatureSample(p.Shard, p.Sample.Particles.ToArray(), Floats(p.Sample.Features)),
        P.ShardResult.KindOneofCase.Cluster => new ClusterSums(p.Shard, p.Cluster.Counts.ToArray(), Doubles(p.Cluster.Sums), p.Cluster.Inertia),
        P.ShardResult.KindOneofCase.Seeds => new ClusterSeeds(p.Shard, Doubles(p.Seeds.Distances), p.Seeds.Particles.ToArray(), Floats(p.Seeds.Images)),
        P.ShardResult.KindOneofCase.Classes => new ClassSums(p.Shard, p.Classes.Counts.ToArray(), Floats(p.Classes.Sums), Doubles(p.Classes.Scores),
            p.Classes.HasAssigned ? Assignments(p.Classes) : null),
        _ => throw new System.Runtime.Serialization.SerializationException($"classification part of unknown kind {p.KindCase}: a message from a newer version of deepem?"),
    };

    private static ParticleAssignment[] Assignments(P.ClassSums c)
    {
        var psi = Floats(c.Psi);
        var dx = Floats(c.ShiftX);
        var dy = Floats(c.ShiftY);
        var score = Floats(c.Score);
        var n = c.Source.Count;
        if (c.Class.Count != n || psi.Length != n || dx.Length != n || dy.Length != n || score.Length != n)
            throw new System.Runtime.Serialization.SerializationException("assignment columns of unequal length");
        return Enumerable.Range(0, n).Select(i => new ParticleAssignment(c.Source[i], c.Class[i], psi[i], dx[i], dy[i], score[i])).ToArray();
    }

    private static ByteString Bytes(double[] values) => ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));

    private static double[] Doubles(ByteString bytes)
    {
        if (bytes.Length % 8 != 0) throw new System.Runtime.Serialization.SerializationException($"{bytes.Length} bytes are not whole float64 values");
        return MemoryMarshal.Cast<byte, double>(bytes.Span).ToArray();
    }
}
