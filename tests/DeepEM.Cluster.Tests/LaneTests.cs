using DeepEM.Cluster.Nodes;
using DeepEM.Cluster.Picking;
using DeepEM.Numerics.Backends;

namespace DeepEM.Cluster.Tests;

/// <summary>Picking lanes (one per GPU): which GPUs a node takes, the role that says how many, and where slots go.</summary>
public class LaneTests
{
    [Fact]
    public void Device_gpu_takes_every_gpu_and_gpus_takes_the_listed_ones()
    {
        Assert.Equal([0, 1, 2, 3], NodeOptions.ResolveGpus(DeviceChoice.Gpu, null, () => 4));
        Assert.Equal([0, 2], NodeOptions.ResolveGpus(DeviceChoice.Gpu, [0, 2], () => 4));
        Assert.Equal([1], NodeOptions.ResolveGpus(DeviceChoice.Auto, [1], () => 2));
        // Without a GPU asked for, the drivers are not even asked.
        Assert.Null(NodeOptions.ResolveGpus(DeviceChoice.Auto, null, () => throw new InvalidOperationException("listed")));
        Assert.Null(NodeOptions.ResolveGpus(DeviceChoice.Cpu, null, () => throw new InvalidOperationException("listed")));
        Assert.Equal(2, new NodeOptions { Gpus = [0, 2] }.Lanes);
        Assert.Equal(1, new NodeOptions().Lanes);
    }

    [Fact]
    public void On_the_cpu_every_slot_computes_and_each_gpu_is_one_lane()
    {
        // One CPU lane left a core idle while a micrograph found its maxima and was written; a GPU computes one at a time.
        var replicas = new DeepEM.Cluster.Blobs.BlobReplicas(Akka.Actor.ActorRefs.Nobody, TimeSpan.FromSeconds(1));
        int Lanes(DeviceChoice device, IReadOnlyList<int>? gpus, int cpuLanes)
        {
            using var picking = new PipelineMicrographPicking(replicas, device, gpus, cpuLanes: cpuLanes);
            return picking.Lanes;
        }
        Assert.Equal(2, Lanes(DeviceChoice.Cpu, null, 2));
        Assert.Equal(3, Lanes(DeviceChoice.Cpu, null, 3));
        Assert.Equal(1, Lanes(DeviceChoice.Cpu, null, 0));
        Assert.Equal(1, Lanes(DeviceChoice.IlgpuCpu, null, 2));
        Assert.Equal(2, Lanes(DeviceChoice.Gpu, [0, 2], 3));
        Assert.Equal(DeepEM.Numerics.Backends.Ilgpu.IlgpuBackend.GpuNames().Count > 0 ? 1 : 2, Lanes(DeviceChoice.Auto, null, 2));
    }

    [Theory]
    [InlineData("Gpu", "", 0, "no CUDA or OpenCL device")]
    [InlineData("Gpu", "0,4", 2, "there is no GPU 4 (this machine has 2: 0..1)")]
    [InlineData("Gpu", "1,1", 2, "a GPU is listed twice")]
    [InlineData("Cpu", "0", 2, "--device cpu does not use them")]
    public void A_gpu_the_machine_does_not_have_is_named(string device, string gpus, int count, string message)
    {
        var requested = gpus.Length == 0 ? null : gpus.Split(',').Select(int.Parse).ToList();
        var e = Assert.Throws<ArgumentException>(() => NodeOptions.ResolveGpus(Enum.Parse<DeviceChoice>(device), requested, () => count));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void The_lanes_role_round_trips_and_is_one_when_absent()
    {
        Assert.Equal(4, Roles.LanesOf([Roles.Worker, Roles.Lanes(4)]));
        Assert.Equal(1, Roles.LanesOf([Roles.Worker, Roles.Coordinator]));
        Assert.Equal(1, Roles.LanesOf([Roles.Worker, "lanes-x"]));
    }

    [Fact]
    public void Slots_go_to_the_node_with_the_fewest_slots_per_lane()
    {
        // A four-GPU node among one-GPU nodes: placed one slot at a time, it ends with four times their slots.
        string big = "big", small1 = "small1", small2 = "small2";
        var shards = new Dictionary<string, int> { [big] = 0, [small1] = 0, [small2] = 0 };
        var lanes = new Dictionary<string, int> { [big] = 4, [small1] = 1, [small2] = 1 };
        for (var i = 0; i < 12; i++)
        {
            var chosen = LaneWeightedAllocation.Least(shards.Select(s => (s.Key, s.Value, lanes[s.Key])).ToList())!;
            shards[chosen]++;
        }
        Assert.Equal((8, 2, 2), (shards[big], shards[small1], shards[small2]));
        Assert.Null(LaneWeightedAllocation.ToMoveFrom(shards.Select(s => (s.Key, s.Value, lanes[s.Key])).ToList()));
    }

    [Fact]
    public void A_slot_moves_while_the_move_lowers_the_highest_load_per_lane()
    {
        // One lane each, as Akka's least-shards allocation: a move once two nodes differ by two.
        Assert.Equal("a", LaneWeightedAllocation.ToMoveFrom([("a", 3, 1), ("b", 1, 1)]));
        Assert.Null(LaneWeightedAllocation.ToMoveFrom([("a", 2, 1), ("b", 1, 1)]));
        // A new two-lane node next to a one-lane node that holds all four slots takes three of them (loads 1 and 1.5).
        Assert.Equal("old", LaneWeightedAllocation.ToMoveFrom([("old", 4, 1), ("new", 0, 2)]));
        Assert.Equal("old", LaneWeightedAllocation.ToMoveFrom([("old", 2, 1), ("new", 2, 2)]));
        Assert.Null(LaneWeightedAllocation.ToMoveFrom([("old", 1, 1), ("new", 3, 2)]));
        Assert.Null(LaneWeightedAllocation.ToMoveFrom([("new", 3, 2), ("old", 1, 1)]));
        Assert.Null(LaneWeightedAllocation.ToMoveFrom([("only", 5, 1)]));
    }
}
