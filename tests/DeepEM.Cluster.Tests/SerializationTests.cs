using Akka.Actor;
using Akka.Serialization;
using DeepEM.Cluster.Nodes;
using DeepEM.Cluster.Protocol;
using DeepEM.Cluster.Serialization;
using DeepEM.Formats.Coordinates;
using DeepEM.Pipeline.Picking;

namespace DeepEM.Cluster.Tests;

/// <summary>Every message of protos/cluster.proto survives serialization through the serializer HOCON binds to it.</summary>
public sealed class SerializationTests : IDisposable
{
    private readonly ActorSystem _system = ActorSystem.Create("serialization", ClusterNode.BuildConfig(new NodeOptions { Roles = [Roles.Client] }));

    private static readonly PickSettings Settings = new()
    {
        Threshold = 0.625f, Step = 4, Distance = 33.5, Edge = EdgeMode.Keep, StdFilter = false, StdRange = (0.25f, 1.75f), Naive = true,
    };

    private static readonly IReadOnlyList<CoordinateFormat> Formats = [CoordinateFormat.Star, CoordinateFormat.Box, CoordinateFormat.Topaz];

    private static readonly CampaignSpec Spec = new("pick-0123456789abcdef", "/data/picks", "/data/model.deepem", new string('a', 64), 123_456,
        [
            new MicrographRef("mic_0001", "/data/mic_0001.mrc"), new MicrographRef("mic_0002", "/data/mic 0002.tiff"),
            // A name that is not the file name, a path without a folder, and a second folder: the compact list keeps each.
            new MicrographRef("other-name", "/data/sub/mic_0003.mrc"), new MicrographRef("bare", "bare.mrc"), new MicrographRef("mic_0004", "/data/mic_0004.mrc"),
            new MicrographRef("", "/data/empty-name.mrc"),
        ], Settings, 1_763_942_400_123, ["mic_0002"]) { Formats = Formats };

    private static readonly CampaignStatus Status = new()
    {
        CampaignId = "pick-1", OutDir = "/out", Total = 60, Done = 40, Skipped = 3, Failed = 2, InFlight = 6, Pending = 9, Complete = false,
        SubmittedUnixMs = 1_763_942_400_000, FinishedUnixMs = 0, Particles = 12_345,
        Nodes = [new NodeThroughput("akka.tcp://deepem@127.0.0.1:4001", 21, 12.5), new NodeThroughput("akka.tcp://deepem@127.0.0.1:4002", 19, 11.25)],
        Failures = [new FailedMicrograph("/data/bad.mrc", "truncated: 100 of 4096 rows")], PickedSinceRecovery = 7, CoordinatorMsPerMicrograph = 1.75,
    };

    private static readonly TrainingSpec Training = new("train-1", "deepem-48", 48, new BlobRef(new string('d', 64), "/out/.deepem/blobs/d.boxes", 8_300_000), null,
        20, 48, 0.3, 0.9, "squared-error", 0.15, 7, 1_763_942_400_000, 8);

    private static readonly Numerics.Training.EpochReport Epoch = new(3, 20, 0.0148, 0.0129, 0.993, 8558.5, TimeSpan.FromMilliseconds(3_250), TimeSpan.FromMilliseconds(18_000), true);

    private static readonly TrainingTraffic Traffic = new(504, 0.0094, 0.0055, 0.0039, 84_378, 3);

    private static readonly DeepEM.Pipeline.Classification.ParticleShardSpec Shard = new(2,
    [
        new("/data/mic_0001.mrc", "mic_0001", [new(10.5, 2047.25, 0.9), new(1e-3, 4095, null)]),
        new("/data/mic 0002.tiff", "mic 0002", []),
    ]);

    private static readonly DeepEM.Classification.Steps.Projection Projection = new([0.5f, -1.25f, 3f], [1f, 0f, 0f, 0f, 0.6f, 0.8f], 2);

    private static readonly DeepEM.Classification.Steps.ClusterStep Clusters = new(7, Projection, [0.1f, 0.2f, -0.3f, 0.4f, 0.5f, 0.6f], 3);

    public static TheoryData<string, object> Messages => new()
    {
        { "c-load", new LoadParticleShard("classify-1", new DeepEM.Pipeline.Classification.ExtractionSettings(180, 4, 144, 18), Shard) },
        { "c-ld", new ParticleShardLoaded("classify-1", 2, "127.0.0.1:4002", 611, 12, ["/data/bad.mrc: truncated: 100 of 4096 rows"]) },
        { "c-task-features", new ClassificationTask("classify-1", [0, 2, 5], new DeepEM.Classification.Steps.FeatureStep(0)) },
        { "c-task-sample", new ClassificationTask("classify-1", [1], new DeepEM.Classification.Steps.SampleStep(1, Projection, 0.125, 42)) },
        { "c-task-cluster", new ClassificationTask("classify-1", [1], Clusters) },
        { "c-task-seeds", new ClassificationTask("classify-1", [1], new DeepEM.Classification.Steps.SeedStep(9, Projection, Clusters.Centroids, 3)) },
        { "c-task-align", new ClassificationTask("classify-1", [1, 3], new DeepEM.Classification.Steps.AlignStep(10, [0.25f, -0.5f, 1e-7f, 2f], 2, Clusters, false)) },
        { "c-task-align-last", new ClassificationTask("classify-1", [1], new DeepEM.Classification.Steps.AlignStep(14, [0.25f, -0.5f, 1e-7f, 2f], 2, null, true)) },
        { "c-part-features", new ClassificationPart("classify-1", 0, "n", 0.5, new DeepEM.Classification.Steps.FeatureSums(2, 611, [1.5, -2.5], [4, 1, 1, 9])) },
        { "c-part-sample", new ClassificationPart("classify-1", 1, "n", 0.1, new DeepEM.Classification.Steps.FeatureSample(2, [3, 17], [0.5f, 1f, -2f, 3f])) },
        { "c-part-cluster", new ClassificationPart("classify-1", 7, "n", 0.2, new DeepEM.Classification.Steps.ClusterSums(2, [3, 0, 608], [1, 2, 0, 0, 5, 6], 1234.5)) },
        { "c-part-seeds", new ClassificationPart("classify-1", 9, "n", 0.3, new DeepEM.Classification.Steps.ClusterSeeds(2, [0.5, double.PositiveInfinity], [17, -1], [1f, 2f, 0f, 0f])) },
        { "c-part-classes", new ClassificationPart("classify-1", 10, "n", 2.5, new DeepEM.Classification.Steps.ClassSums(2, [400, 211], [0.5f, -1f, 2f, 0.25f], [300.5, 150.25], null)) },
        { "c-part-assigned", new ClassificationPart("classify-1", 14, "n", 2.5, new DeepEM.Classification.Steps.ClassSums(2, [1, 1], [0.5f, -1f, 2f, 0.25f], [0.9, 0.8],
            [new(0, 1, 123.5f, -2f, 3f, 0.91f), new(1, 0, 359.9f, 0f, 0f, 0.5f)])) },
        { "c-no", new ClassificationRefused("classify-1", -1, 2, "n", "/data/mic_0001.mrc: no such file") },
        { "c-end", new ForgetClassification("classify-1") },
        { "sub", new SubmitCampaign(Spec) },
        { "sub-defaults", new SubmitCampaign(Spec with { Settings = new PickSettings(), Formats = PickSettings.DefaultFormats, AlreadyDone = [] }) },
        // A RELION project's campaign: names that are paths, one micrograph listed as written in a STAR file.
        { "sub-relion", new SubmitCampaign(Spec with
            {
                ProjectDir = "/data/project",
                Micrographs = [new MicrographRef("Micrographs/a", "/data/project/Micrographs/a.mrc"), new MicrographRef("Micrographs/b", "/data/project/Micrographs/b.mrc") { Listed = "./Micrographs/b.mrc" }],
            }) },
        // pick --watch: a batch of what arrived, each with its arrival time, and the campaign kept open.
        { "sub-watch", new SubmitCampaign(Spec with
            {
                Micrographs = [new MicrographRef("a", "/data/in/a.mrc") { ArrivedUnixMs = 1_763_942_400_500 }, new MicrographRef("b", "/data/in/b.mrc") { ArrivedUnixMs = 1_763_942_401_750 }],
            }, Watch: true, Batch: 17) },
        { "acc", new CampaignAccepted("pick-1", 60, 3, 1, true, 999) },
        { "acc-batch", new CampaignAccepted("pick-1", 62, 3, 1, true, 999) { Batch = 17 } },
        { "unw", new EndWatch("pick-1") },
        { "rej", new CampaignRejected("pick-1", "/out: this output folder belongs to another campaign") },
        { "get", new GetCampaignStatus("pick-1") },
        { "fol", new FollowCampaign("pick-1") },
        { "st", Status },
        { "st-watch", Status with { Watching = true, Arrived = 55, LatencyCount = 40, LatencyMedianSeconds = 4.25, LatencyP95Seconds = 9.5, LatencyMaxSeconds = 12.75 } },
        { "str", new CampaignStatusReport([Status, Status with { CampaignId = "pick-2", Complete = true, FinishedUnixMs = 1_763_942_500_000 }]) },
        { "prog", new MicrographProgress { CampaignId = "pick-1", Name = "mic_0001", Particles = 101, Peaks = 120, RejectedByStd = 19, Positions = 923_521, ScoringSeconds = 0.41, Node = "n", Done = 4, Total = 60 } },
        { "prog-failed", new MicrographProgress { CampaignId = "pick-1", Name = "bad", Failed = true, Error = "truncated", Done = 5, Total = 60 } },
        { "progs", new MicrographProgressBatch([
            new MicrographProgress { CampaignId = "pick-1", Name = "mic_0001", Particles = 101, Node = "n", Done = 4, Total = 60 },
            new MicrographProgress { CampaignId = "pick-1", Name = "mic_0002", Particles = 7, Node = "m", Done = 5, Total = 60 },
        ]) },
        { "task", new PickTask(3, 638_999_999_999_999_999, 638_999_999_999_000_000, "pick-1", 99_999, new MicrographRef("mic_0001", "/data/mic_0001.mrc"), "/data/picks",
            "/data/model.deepem", new string('b', 64), 4096, Settings, Formats) },
        { "tac", new TaskAccepted(3, 42, "akka.tcp://deepem@127.0.0.1:4001") },
        { "tret", new TaskReturned(3, 43) },
        { "tpk", new TaskPicked { Slot = 1, TaskId = 42, CampaignId = "pick-1", Index = 7, Name = "mic_0001", Node = "n", Particles = 3, Peaks = 4, RejectedByStd = 1, Positions = 1_000_000, ScoringSeconds = 0.3, TotalSeconds = 0.5 } },
        { "tfl", new TaskFailed(2, 43, "pick-1", 8, "bad", "n", "not an MRC file: map word is 'JUNK'", true) },
        { "stop", StopSlot.Instance },
        { "fmc", new FetchBlobChunk(new string('c', 64), 1 << 20) },
        { "mc", new BlobChunk(new string('c', 64), 0, 3, [1, 2, 255], "") },
        { "e-sub", new CampaignSubmitted(Spec) },
        { "e-add", new MicrographsAdded("pick-1", [new MicrographRef("mic_0003", "/data/mic_0003.mrc")], ["mic_0003"]) },
        { "e-pks", new MicrographsPicked("pick-1", [new PickedMicrograph(0, 101, 0.5f, "n"), new PickedMicrograph(99_999, 0, 1.25f, "m"), new PickedMicrograph(3, 7, 0.75f, "n")]) },
        { "e-pks-watch", new MicrographsPicked("pick-1", [new PickedMicrograph(0, 101, 0.5f, "n", 4.5f), new PickedMicrograph(1, 0, 1.25f, "m", 0.125f)]) },
        { "e-add-watch", new MicrographsAdded("pick-1", [new MicrographRef("mic_0003", "/data/mic_0003.mrc") { ArrivedUnixMs = 1_763_942_400_500 }], []) },
        { "e-wat", new CampaignWatched("pick-1", true) },
        { "e-wat-end", new CampaignWatched("pick-1", false) },
        { "e-pk", new MicrographPicked("pick-1", "mic_0001", "n", 101, 0.5) },
        { "e-fl", new MicrographFailed("pick-1", "bad", "truncated", 4) },
        { "e-fl-old", new MicrographFailed("pick-1", "bad", "truncated") },
        { "e-end", new CampaignCompleted("pick-1", 1_763_942_500_000) },
        { "e-end-follow", new CampaignCompleted("pick-1", 1_763_942_500_000) { OutputsFollow = true } },
        { "e-out", new CampaignOutputsWritten("pick-1") },
        { "t-sub", new SubmitTraining(Training) },
        { "t-sub-init", new SubmitTraining(Training with { InitialParameters = new BlobRef(new string('e', 64), "/out/.deepem/blobs/e.parameters", 14_116) }) },
        { "t-acc", new TrainingAccepted("train-1", true, 120, 504, 3) },
        { "t-rej", new TrainingRejected("train-1", "/out/boxes: the coordinator cannot read it") },
        { "t-fol", new FollowTraining("train-1") },
        { "t-prog", new TrainingProgress("train-1", Epoch, Traffic) },
        { "t-fin", new TrainingFinished("train-1", new BlobRef(new string('f', 64), "/state/training/train-1.parameters", 14_116), 3, 0.0129, 0.993,
            new Numerics.Training.ThresholdPoint(0.312, 0.938, 1.0, 0.968, 0.987), 768, 135, [Epoch, Epoch with { Epoch = 4, Best = false }], Traffic, 1_763_942_500_000) },
        { "t-reg", new RegisterTrainer("127.0.0.1:4002", "managed CPU, 2 threads, AVX2+FMA") },
        { "t-who", GetTrainers.Instance },
        { "t-wkr", new Trainers(["127.0.0.1:4002", "127.0.0.1:4003"]) },
        { "t-w", new WeightsPart("train-1", 17, 1024, 3529, [0.25f, -1.5f, 3e-7f, float.Epsilon]) },
        { "t-task", new GradientTask("train-1", 17, "deepem-48", 48, "squared-error", Training.TrainingSet, new string('a', 64), 0, 3, [0.1f, -0.2f, 0.3f], 1, [5, 900, 17], [0, 3, 2]) },
        { "t-g", new GradientPart("train-1", 17, 1, 2, 4096, 7058, [1.5f, -2.25f, 1e-20f], [0.75, 1.25], "127.0.0.1:4002", 0.0042) },
        { "t-gno", new GradientRefused("train-1", 17, 1, "127.0.0.1:4002", "the weights received hash to 0123456789ab, the version is ba9876543210") },
        { "t-e-sub", new TrainingSubmitted(Training) },
        { "t-e-ck", new TrainingCheckpointed("train-1", 50, new BlobRef(new string('9', 64), "/state/training/train-1-00000050.ckpt", 43_000)) },
        { "t-ckf", new CheckpointFile("train-1", new Numerics.Training.TrainingCheckpoint(2, 17, 3.5, [0.5f, -0.5f], [0.01f, 0f], [0.4f, -0.4f], 0.97, 0.02, 1, [Epoch])) },
        { "snap2", new CoordinatorSnapshot([new CampaignSnapshot(Spec with { AlreadyDone = [] }, [1, 2, 0, 3, 1, 0], [101, 0], [(3, "truncated")], [new NodeThroughput("n", 2, 0.5)], 1_763_942_500_000)]) },
        { "snap2-watch", new CoordinatorSnapshot([new CampaignSnapshot(Spec with
            {
                AlreadyDone = [], Micrographs = [new MicrographRef("a", "/data/in/a.mrc") { ArrivedUnixMs = 1_763_942_400_500 }, new MicrographRef("b", "/data/in/b.mrc")],
            }, [1, 0], [101], [], [new NodeThroughput("n", 1, 0.5)], 0) { Watching = true, DoneLatencies = [4.5f], OutputsPending = true }]) },
    };

    [Theory]
    [MemberData(nameof(Messages))]
    public void Message_round_trips_through_the_bound_protobuf_serializer(string label, object message)
    {
        var serializer = _system.Serialization.FindSerializerFor(message);
        Assert.IsType<ClusterMessageSerializer>(serializer);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        var bytes = serializer.ToBinary(message);
        var back = _system.Serialization.Deserialize(bytes, serializer.Identifier, manifest);
        Assert.IsType(message.GetType(), back);
        Assert.Equivalent(message, back, strict: true);
        Assert.Equal(bytes, serializer.ToBinary(back));
        // Only the empty messages (a slot's stop, the question for the trainers) may encode to nothing; the rest carry their fields.
        Assert.True(bytes.Length > 0 || message is StopSlot or GetTrainers, $"{label} encoded to no bytes");
    }

    [Fact]
    public void Every_message_type_has_a_round_trip_case()
    {
        var covered = Messages.Select(row => row[1].GetType()).ToHashSet();
        var all = typeof(IClusterMessage).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IClusterMessage).IsAssignableFrom(t)).ToList();
        Assert.True(all.Count >= 20, $"only {all.Count} message types found");
        Assert.Empty(all.Where(t => !covered.Contains(t)).Select(t => t.Name));
    }

    [Fact]
    public void A_snapshot_of_an_older_version_is_read_into_the_compact_form()
    {
        // What versions before the compact snapshot wrote (manifest "snap"): done and failed micrographs by name.
        var legacy = new Serialization.Proto.CoordinatorSnapshot
        {
            Campaigns =
            {
                new Serialization.Proto.CampaignSnapshot
                {
                    Spec = new Serialization.Proto.CampaignSpec
                    {
                        CampaignId = "pick-1", OutDir = "/out", Settings = new Serialization.Proto.PickSettings { Formats = { "star" } },
                        Micrographs = { new Serialization.Proto.MicrographRef { Name = "a", Path = "/d/a.mrc" }, new Serialization.Proto.MicrographRef { Name = "b", Path = "/d/b.mrc" },
                            new Serialization.Proto.MicrographRef { Name = "c", Path = "/d/c.mrc" }, new Serialization.Proto.MicrographRef { Name = "d", Path = "/d/d.mrc" } },
                        AlreadyDone = { "d" },
                    },
                    Done = { "c", "a" }, DoneParticles = { 30, 10 },
                    Failed = { new Serialization.Proto.FailedMicrograph { Name = "b", Error = "truncated" } },
                    FinishedUnixMs = 5,
                },
            },
        };
        var serializer = (SerializerWithStringManifest)_system.Serialization.FindSerializerFor(new FollowCampaign("x"));
        var snapshot = (CoordinatorSnapshot)serializer.FromBinary(Google.Protobuf.MessageExtensions.ToByteArray(legacy), "snap");
        var c = Assert.Single(snapshot.Campaigns);
        Assert.Equal(["a", "b", "c", "d"], c.Spec.Micrographs.Select(m => m.Name));
        Assert.Equal(new byte[] { 1, 3, 1, 2 }, c.Settled);
        Assert.Equal([10, 30], c.DoneParticles);
        Assert.Equal([(1, "truncated")], c.Failures);
        var state = Campaigns.CampaignState.FromSnapshot(c);
        Assert.Equal((4, 2, 1, 1, 40L), (state.Total, state.Done, state.Skipped, state.Failed, state.Particles));
    }

    [Fact]
    public void Unknown_manifest_is_refused_with_its_name()
    {
        var serializer = (SerializerWithStringManifest)_system.Serialization.FindSerializerFor(new FollowCampaign("x"));
        var e = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => serializer.FromBinary([], "from-the-future"));
        Assert.Contains("from-the-future", e.Message);
    }

    [Fact]
    public void Largest_model_chunk_fits_in_the_configured_frame()
    {
        var frame = _system.Settings.Config.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size") ?? 0;
        var chunkBytes = _system.Settings.Config.GetInt("deepem.cluster.model-chunk-bytes");
        var chunk = new BlobChunk(new string('d', 64), 0, 10L << 20, new byte[chunkBytes], "");
        var size = _system.Serialization.FindSerializerFor(chunk).ToBinary(chunk).Length;
        Assert.InRange(chunkBytes, 1024, 1 << 20);
        Assert.True(size + 1024 < frame, $"a {size}-byte chunk does not fit a {frame}-byte frame");
    }

    public void Dispose() => _system.Terminate().Wait(TimeSpan.FromSeconds(10));
}
