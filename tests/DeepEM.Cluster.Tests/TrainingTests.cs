using DeepEM.Cluster.Clients;
using DeepEM.Cluster.Blobs;
using DeepEM.Cluster.Nodes;
using DeepEM.Cluster.Protocol;
using DeepEM.Numerics.Backends.Managed;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Training;
using DeepEM.TestSupport;

namespace DeepEM.Cluster.Tests;

/// <summary>
/// Data-parallel training on ActorSystems in this process: the training coordinator hands each step's chunks to
/// the gradient workers of every worker node, and the weights must be those of one process training alone.
/// </summary>
[Collection("cluster")]
public sealed class TrainingTests(ClusterData data)
{
    /// <summary>Batch 48: three chunks of 16, so up to three nodes each compute a slice of every step.</summary>
    private static readonly TrainingOptions Options = new() { Epochs = 3, BatchSize = 48, Seed = 5 };

    private static TrainingResult OneProcess(BoxSet boxes, TrainingOptions options, string preset = Presets.Default) =>
        new Trainer(new ManagedBackend(Presets.Create(preset, boxes.BoxSize)), options).Train(boxes);

    private static TrainingSpec Spec(TempFolder temp, BoxSet boxes, TrainingOptions options, string jobId, string preset = Presets.Default)
    {
        var bytes = BoxSetFile.ToBytes(boxes);
        var path = temp.File("boxes.set");
        File.WriteAllBytes(path, bytes);
        return new TrainingSpec(jobId, preset, boxes.BoxSize, new BlobRef(HashedFiles.Sha256Hex(bytes), path, bytes.Length), null,
            options.Epochs, options.BatchSize, options.LearningRate, options.Momentum, "squared-error", options.ValidationFraction, options.Seed, 0, options.Symmetries);
    }

    /// <summary>Largest difference relative to the largest weight.</summary>
    private static double RelativeDifference(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        var scale = expected.Max(v => Math.Abs((double)v));
        return expected.Zip(actual, (e, a) => Math.Abs((double)e - a)).Max() / scale;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Training_on_N_nodes_gives_the_weights_of_one_process(int nodes)
    {
        using var temp = TestPaths.NewTemp();
        var reference = OneProcess(data.TrainingBoxes, Options);
        var cluster = new List<ClusterNode> { await TestCluster.Start(temp.File("state"), [Roles.Worker, Roles.Coordinator]) };
        try
        {
            for (var i = 1; i < nodes; i++) cluster.Add(await TestCluster.Start(null, [Roles.Worker], cluster[0]));
            await TestCluster.WaitForTrainers(cluster[0], nodes);
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            var epochs = new List<EpochReport>();
            var trained = await new TrainingClient(cluster[0]).RunAsync(Spec(temp, data.TrainingBoxes, Options, $"n{nodes}"), _ => { }, p => epochs.Add(p.Epoch), timeout.Token);

            var difference = RelativeDifference(reference.Parameters, trained.Parameters);
            Assert.True(difference <= 1e-5, $"weights differ by {difference:g3} of the largest");
            Assert.Equal(reference.BestEpoch, trained.Finished.BestEpoch);
            Assert.Equal(reference.ValidationAccuracy, trained.Finished.ValidationAccuracy, 6);
            Assert.Equal(reference.Epochs.Select(e => e.TrainingLoss), epochs.Select(e => e.TrainingLoss), (a, b) => Math.Abs(a - b) <= 1e-9 * Math.Abs(a));
            // Every node computed its slice of each step: the steps used as many workers as there were nodes.
            Assert.Equal(nodes, trained.Finished.Traffic.Workers);
            var steps = reference.Epochs.Count * (int)Math.Ceiling(reference.TrainingBoxes * 4 / (double)Options.BatchSize);
            Assert.Equal(steps, trained.Finished.Traffic.Steps);
            var parameters = Presets.Create(Presets.Default, data.TrainingBoxes.BoxSize).ParameterCount;
            // Each step sends every node the weights and gets three chunk gradients back.
            // (the last step of an epoch may hold fewer chunks).
            Assert.InRange(trained.Finished.Traffic.BytesPerStep, 4L * parameters * (nodes + 2), 4L * parameters * (nodes + 3) + 4096);

            if (nodes == 2)
            {
                // A second training on the same workers starts again from step 0 of its own; in eight symmetries, the
                // mirrored boxes are assembled on the workers as in one process.
                var second = Options with { Epochs = 1, Seed = 6, Symmetries = 8 };
                var again = await new TrainingClient(cluster[0]).RunAsync(Spec(temp, data.TrainingBoxes, second, "second"), _ => { }, _ => { }, timeout.Token);
                Assert.True(RelativeDifference(OneProcess(data.TrainingBoxes, second).Parameters, again.Parameters) <= 1e-5);
            }
        }
        finally
        {
            foreach (var node in Enumerable.Reverse(cluster)) await node.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_batch_normalised_job_trains_on_a_gpu_nodes_cpu_with_the_weights_of_one_process()
    {
        // ILGPU's CPU accelerator stands for a GPU here: it has no batch statistics and refuses such a network, as a GPU does.
        using var temp = TestPaths.NewTemp();
        var options = Options with { Epochs = 1 };
        var reference = OneProcess(data.TrainingBoxes, options, Presets.BatchNormRelu);
        var node = await TestCluster.Start(temp.File("state"), [Roles.Worker, Roles.Coordinator], device: Numerics.Backends.DeviceChoice.IlgpuCpu);
        try
        {
            await TestCluster.WaitForTrainers(node, 1);
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            var trained = await new TrainingClient(node).RunAsync(Spec(temp, data.TrainingBoxes, options, "bn", Presets.BatchNormRelu), _ => { }, _ => { }, timeout.Token);
            var difference = RelativeDifference(reference.Parameters, trained.Parameters);
            Assert.True(difference <= 1e-5, $"weights differ by {difference:g3} of the largest");
            Assert.Equal(1, trained.Finished.Traffic.Workers);
        }
        finally
        {
            await node.DisposeAsync();
        }
        Assert.Contains("batch normalisation trains on the CPU, not on this node's --device ilgpucpu", File.ReadAllText(temp.File("state/node.log")));
    }

    [Fact]
    public async Task A_worker_killed_mid_training_has_its_slices_recomputed_elsewhere_and_parts_over_the_message_size_are_reassembled()
    {
        using var temp = TestPaths.NewTemp();
        var options = Options with { Epochs = 4 };
        var reference = OneProcess(data.TrainingBoxes, options);
        // 4 KiB messages: the weights (about 14 KB) and each slice's gradients travel in parts.
        const string small = "deepem.cluster.training { message-bytes = 4096, step-timeout = 3s, checkpoint-every = 10 }";
        var n1 = await TestCluster.Start(temp.File("state"), [Roles.Worker, Roles.Coordinator], extra: small, log: temp.File("n1.log"));
        var n2 = await TestCluster.Start(null, [Roles.Worker], n1, extra: small);
        var n3 = await TestCluster.Start(null, [Roles.Worker], n1, extra: small);
        try
        {
            await TestCluster.WaitForTrainers(n1, 3);
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            Task? killed = null;
            var trained = await new TrainingClient(n1).RunAsync(Spec(temp, data.TrainingBoxes, options, "killed"), _ => { }, p =>
            {
                // After the first epoch node 3 stops without leaving: its slice of the step under way is lost.
                if (p.Epoch.Epoch == 1) killed = n3.System.Terminate();
            }, timeout.Token);
            Assert.NotNull(killed);
            var difference = RelativeDifference(reference.Parameters, trained.Parameters);
            Assert.True(difference <= 1e-5, $"weights differ by {difference:g3} of the largest");
            Assert.Equal(reference.ValidationAccuracy, trained.Finished.ValidationAccuracy, 6);
            // The coordinator gave the killed node's slice to another worker (after the 3 s timeout, or when the node was removed).
            Assert.Matches("not back from|is gone", File.ReadAllText(temp.File("n1.log")));
        }
        finally
        {
            await n2.DisposeAsync();
            await n1.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_worker_that_joins_mid_training_gets_slices_of_the_next_steps()
    {
        using var temp = TestPaths.NewTemp();
        // Long enough that the second node joins and announces itself (a few seconds) well before the end.
        var options = Options with { Epochs = 24 };
        var reference = OneProcess(data.TrainingBoxes, options);
        var n1 = await TestCluster.Start(temp.File("state"), [Roles.Worker, Roles.Coordinator]);
        ClusterNode? n2 = null;
        try
        {
            await TestCluster.WaitForTrainers(n1, 1);
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            var firstEpoch = new TaskCompletionSource();
            var training = new TrainingClient(n1).RunAsync(Spec(temp, data.TrainingBoxes, options, "joined"), _ => { }, p =>
            {
                if (p.Epoch.Epoch == 1) firstEpoch.TrySetResult();
            }, timeout.Token);
            await firstEpoch.Task.WaitAsync(TimeSpan.FromMinutes(2));
            n2 = await TestCluster.Start(null, [Roles.Worker], n1);
            var trained = await training;

            // The steps after it joined went to both nodes, and the weights are still one process's.
            Assert.Equal(2, trained.Finished.Traffic.Workers);
            var difference = RelativeDifference(reference.Parameters, trained.Parameters);
            Assert.True(difference <= 1e-5, $"weights differ by {difference:g3} of the largest");
        }
        finally
        {
            if (n2 is not null) await n2.DisposeAsync();
            await n1.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_restarted_coordinator_resumes_from_its_last_checkpoint()
    {
        using var temp = TestPaths.NewTemp();
        var options = Options with { Epochs = 4 };
        var reference = OneProcess(data.TrainingBoxes, options);
        const string often = "deepem.cluster.training { checkpoint-every = 7, step-timeout = 3s }";
        // The coordinator node (with the journal) dies; a worker and a client stay.
        var coordinator = await TestCluster.Start(temp.File("state"), [Roles.Coordinator], extra: often);
        var worker = await TestCluster.Start(null, [Roles.Worker], coordinator, extra: often);
        var client = await TestCluster.Start(null, [Roles.Client], coordinator, extra: often);
        ClusterNode? restarted = null;
        try
        {
            await TestCluster.WaitForTrainers(coordinator, 1);
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            var spec = Spec(temp, data.TrainingBoxes, options, "restart");
            var killed = new TaskCompletionSource();
            var training = new TrainingClient(client).RunAsync(spec, _ => { }, p =>
            {
                if (p.Epoch.Epoch == 2) killed.TrySetResult();
            }, timeout.Token);
            await killed.Task.WaitAsync(TimeSpan.FromMinutes(2));
            await coordinator.System.Terminate();
            // The same state folder, a new process (port): it recovers the journal and goes on from the checkpoint.
            restarted = await TestCluster.Start(temp.File("state"), [Roles.Coordinator], worker, extra: often);
            var trained = await training;

            var difference = RelativeDifference(reference.Parameters, trained.Parameters);
            Assert.True(difference <= 1e-5, $"weights differ by {difference:g3} of the largest");
            Assert.Equal(reference.BestEpoch, trained.Finished.BestEpoch);
            Assert.Equal(4, trained.Finished.Epochs.Count);
            // The restarted coordinator computed only the steps after its last checkpoint: the end of epoch 2, or the
            // last 7-step checkpoint before it if the process died before that one was written. Training from scratch
            // would have taken 4 epochs of steps.
            var perEpoch = (int)Math.Ceiling(reference.TrainingBoxes * 4 / (double)Options.BatchSize);
            Assert.InRange(trained.Finished.Traffic.Steps, 1, 2 * perEpoch + 7);
        }
        finally
        {
            if (restarted is not null) await restarted.DisposeAsync();
            await client.DisposeAsync();
            await worker.DisposeAsync();
            await coordinator.DisposeAsync();
        }
    }
}
