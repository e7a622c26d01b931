using DeepEM.Cluster.Models;
using DeepEM.Cluster.Nodes;
using DeepEM.Cluster.Picking;
using DeepEM.Cluster.Protocol;
using DeepEM.Pipeline.Picking;
using DeepEM.TestSupport;

namespace DeepEM.Cluster.Tests;

/// <summary>
/// A micrograph picked while the node starts (PickAhead): its task takes those picks, and the files are the reference's;
/// a task that asks for something else (other settings, a file rewritten since) is picked as ever.
/// </summary>
[Collection("cluster")]
public sealed class PickAheadTests(ClusterData data)
{
    [Fact]
    public async Task The_first_micrograph_picked_while_the_node_starts_is_the_one_its_task_writes()
    {
        using var temp = TestPaths.NewTemp();
        var (model, file) = ParsedModels.Load(data.Model);
        var first = Path.GetFullPath(data.Micrographs[0]);
        RecordingPicking? recording = null;
        var node = await TestCluster.Start(temp.File("state"), [Roles.Worker, Roles.Coordinator], wrap: p => recording = new RecordingPicking(p),
            ahead: new PickAhead(file.Sha256, model, new PickSettings(), first));
        try
        {
            var final = await TestCluster.Pick(node, data, temp.File("picks"));
            Assert.True(final.Complete);
            Assert.Equal((40, 0), (final.Done, final.Failed));
            // Taken once, by the first micrograph's task; the other 39 were picked when their tasks came.
            Assert.Equal([Path.GetFileNameWithoutExtension(first)], recording!.Ahead);
            Assert.Equal(40, recording.Picked.Count);
            TestCluster.AssertSameAsReference(data, temp.File("picks"));
        }
        finally
        {
            await node.DisposeAsync();
        }
        Assert.Contains("particles ahead, while the node started", File.ReadAllText(temp.File("state/node.log")));
    }

    [Theory]
    [InlineData("other settings")]
    [InlineData("file rewritten")]
    public async Task A_pick_ahead_that_is_not_what_the_task_asks_is_not_taken(string change)
    {
        using var temp = TestPaths.NewTemp();
        var (model, file) = ParsedModels.Load(data.Model);
        // Copies of three micrographs, so that one may be rewritten (the same bytes, a new write time).
        Directory.CreateDirectory(temp.File("mics"));
        var copies = data.Micrographs.Take(3).Select(m =>
        {
            var copy = temp.File("mics/" + Path.GetFileName(m));
            File.Copy(m, copy);
            File.SetLastWriteTimeUtc(copy, new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc));
            return copy;
        }).ToList();
        var settings = change == "other settings" ? new PickSettings { Threshold = 0.99f } : new PickSettings();
        RecordingPicking? recording = null;
        var node = await TestCluster.Start(temp.File("state"), [Roles.Worker, Roles.Coordinator], wrap: p => recording = new RecordingPicking(p),
            ahead: new PickAhead(file.Sha256, model, settings, Path.GetFullPath(copies[0])));
        try
        {
            if (change == "file rewritten") File.SetLastWriteTimeUtc(copies[0], new DateTime(2026, 1, 2, 0, 0, 0, DateTimeKind.Utc));
            var spec = Clients.CampaignSpecs.For(data.Model, copies, temp.File("picks"), new PickSettings());
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
            var final = (await new Clients.CampaignClient(node).RunAsync(spec, _ => { }, _ => { }, timeout.Token)).Final;
            Assert.Equal((3, 0), (final.Done, final.Failed));
            Assert.Empty(recording!.Ahead);
            foreach (var name in copies.Select(Path.GetFileNameWithoutExtension))
            {
                Assert.Equal(File.ReadAllText(Path.Combine(data.Reference, name + ".star")), File.ReadAllText(temp.File($"picks/{name}.star")));
            }
        }
        finally
        {
            await node.DisposeAsync();
        }
    }
}

/// <summary>Passes every task to the node's engine and notes which micrographs it picked, and which of those ahead.</summary>
internal sealed class RecordingPicking(IMicrographPicking inner) : IMicrographPicking
{
    private readonly List<string> _ahead = [];
    private readonly List<string> _picked = [];

    public IReadOnlyList<string> Ahead { get { lock (_ahead) return _ahead.ToList(); } }

    public IReadOnlyList<string> Picked { get { lock (_ahead) return _picked.ToList(); } }

    public async Task<PickOutcome> PickAsync(PickTask task, string node, CancellationToken cancel)
    {
        var outcome = await inner.PickAsync(task, node, cancel);
        lock (_ahead)
        {
            _picked.Add(task.Micrograph.Name);
            if (outcome.Ahead) _ahead.Add(task.Micrograph.Name);
        }
        return outcome;
    }
}
