using DeepEM.Classification;
using DeepEM.Cluster.Classification;
using DeepEM.Cluster.Clients;
using DeepEM.Cluster.Nodes;
using DeepEM.Pipeline.Classification;
using DeepEM.TestSupport;
using Xunit.Abstractions;

namespace DeepEM.Cluster.Tests;

/// <summary>
/// 2D classification over three ActorSystems on 127.0.0.1: the shards' particles are cut and aligned on the worker
/// nodes, every message through the protobuf serializer, and the result must be the one a single process computes,
/// to the bit — also when a worker node leaves in the middle and its shards move.
/// </summary>
[Collection("cluster")]
public sealed class ClassificationClusterTests(ITestOutputHelper output)
{
    private static (ClassificationJob Job, IReadOnlyList<LabelledMicrograph> Data) Job(string folder)
    {
        var data = ClassificationDataset.Create(folder, count: 4);
        var shards = ParticleShards.Plan(data.Select(m => new MicrographPicks(m.Path, m.Name, m.Picks)).ToList(), maxShards: 64);
        var settings = ExtractionSettings.For(ClassificationDataset.Box);
        return (new ClassificationJob("classify-test", settings, new ClassificationOptions { Classes = 5, AlignmentRounds = 4 }, shards), data);
    }

    /// <summary>The one-process result (off the test's thread, and bounded: a run of these 500 particles takes about 2 s).</summary>
    /// <summary>The one-process result, as a library user without a cluster computes it.</summary>
    private static Task<ClassificationResult> Locally(ClassificationJob job) => Task.Run(() =>
        ClassificationRun.RunLocally(job.Settings.Geometry(), job.Options,
            job.Shards.Select(s => new ShardComputation(s.Index, ParticleShards.Load(s, job.Settings).Particles)).ToList()));

    private static void AssertSame(ClassificationResult expected, ClassificationResult actual)
    {
        Assert.Equal(expected.Classes.Select(c => c.Count), actual.Classes.Select(c => c.Count));
        for (var k = 0; k < expected.Classes.Count; k++) Assert.Equal(expected.Classes[k].Image, actual.Classes[k].Image);
        Assert.Equal(expected.Assignments.Count, actual.Assignments.Count);
        for (var s = 0; s < expected.Assignments.Count; s++) Assert.Equal(expected.Assignments[s], actual.Assignments[s]);
    }

    [Fact]
    public async Task Three_nodes_classify_exactly_as_one_process_does()
    {
        using var temp = TestPaths.NewTemp();
        var (job, _) = Job(temp.Path);
        Assert.Equal(4, job.Shards.Count);
        var reference = await Locally(job);

        var n1 = await TestCluster.Start(temp.File("state"), [Roles.Worker, Roles.Coordinator]);
        var n2 = await TestCluster.Start(null, [Roles.Worker], n1);
        var n3 = await TestCluster.Start(null, [Roles.Worker], n1);
        try
        {
            var steps = new List<ClassificationProgress>();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
            var outcome = await new ClassificationClient(n1).RunAsync(job, p =>
            {
                lock (steps) steps.Add(p);
                if (p.Report is { } r) output.WriteLine($"{r.Phase}: {r.Summary} ({r.Seconds:0.00} s)");
            }, timeout.Token);
            output.WriteLine($"nodes: {string.Join(", ", outcome.Nodes)}; {outcome.Result.Particles} particles");
            // Every node cut and aligned some of the shards.
            Assert.Equal(new[] { n1.HostPort, n2.HostPort, n3.HostPort }.Order(), outcome.Nodes.Order());
            Assert.Contains(steps, p => p.Workers == 3);
            Assert.Equal(reference.Particles, outcome.Result.Particles);
            AssertSame(reference, outcome.Result);
        }
        finally
        {
            foreach (var node in new[] { n3, n2, n1 }) await node.DisposeAsync();
        }
    }

    [Fact]
    public async Task Shards_move_when_a_worker_leaves_and_when_one_joins_and_the_result_does_not_change()
    {
        using var temp = TestPaths.NewTemp();
        var (job, _) = Job(temp.Path);
        job = job with { Options = job.Options with { AlignmentRounds = 6 } };
        var reference = await Locally(job);

        var n1 = await TestCluster.Start(temp.File("state"), [Roles.Worker, Roles.Coordinator]);
        var n2 = await TestCluster.Start(null, [Roles.Worker], n1);
        var n3 = await TestCluster.Start(null, [Roles.Worker], n1);
        ClusterNode? n4 = null;
        try
        {
            var (left, joined) = (0, 0);
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
            var outcome = await new ClassificationClient(n1).RunAsync(job, p =>
            {
                if (p.Report is { } r) output.WriteLine($"{r.Phase}: {r.Summary} ({r.Seconds:0.00} s); {p.Workers} workers");
                // Once the alignment rounds have begun, the third node leaves the cluster...
                if (p.Step >= 6 && Interlocked.Exchange(ref left, 1) == 0) _ = n3.LeaveAsync();
                // ...and three steps later a fourth joins (the driver waits for it here: this runs on its thread).
                if (p.Step >= 9 && Interlocked.Exchange(ref joined, 1) == 0) n4 = TestCluster.Start(null, [Roles.Worker], n1).GetAwaiter().GetResult();
            }, timeout.Token);
            output.WriteLine($"nodes: {string.Join(", ", outcome.Nodes)}");
            Assert.Equal((1, 1), (left, joined));
            Assert.Contains(n3.HostPort, outcome.Nodes);
            Assert.Contains(n4!.HostPort, outcome.Nodes);
            AssertSame(reference, outcome.Result);
        }
        finally
        {
            foreach (var node in new[] { n4, n3, n2, n1 }.OfType<ClusterNode>()) await node.DisposeAsync();
        }
    }

    [Fact]
    public void Jobs_whose_messages_would_not_fit_the_remoting_frame_are_refused_in_one_line()
    {
        ClassificationJob JobOf(int box, int? bin, int classes) =>
            new("j", ExtractionSettings.For(box, bin), new ClassificationOptions { Classes = classes }, []);
        JobOf(180, null, 50).CheckMessageSizes(); // 45 px boxes, 50 classes: 0.4 MiB
        var many = Assert.Throws<ArgumentException>(() => JobOf(180, null, 400).CheckMessageSizes());
        Assert.Contains("use fewer classes or a larger --bin", many.Message);
        var large = Assert.Throws<ArgumentException>(() => JobOf(256, 1, 2).CheckMessageSizes());
        Assert.Contains("features", large.Message);
    }
}
