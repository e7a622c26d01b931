using DeepEM.Cluster.Campaigns;
using DeepEM.Cluster.Protocol;

namespace DeepEM.Cluster.Tests;

/// <summary>Tests that measure the process's managed heap: no other test may allocate meanwhile.</summary>
[CollectionDefinition("heap measurements", DisableParallelization = true)]
public sealed class HeapMeasurements;

[Collection("heap measurements")]
public sealed class CampaignStateMemoryTests
{
    [Fact]
    public void A_campaign_of_100000_micrographs_is_compact_in_memory_and_in_its_snapshot()
    {
        var spec = new CampaignSpec("c", "/out", "/m", new string('a', 64), 10,
            Enumerable.Range(0, 100_000).Select(i => new MicrographRef($"FoilHole_{i:D8}", $"/data/session/Micrographs/FoilHole_{i:D8}.mrc")).ToList(),
            new Pipeline.Picking.PickSettings(), 1, []);
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var state = new CampaignState(spec);
        for (var i = 0; i < 100_000; i++) state.TakeNext();
        state.Apply(new MicrographsPicked("c", Enumerable.Range(0, 100_000).Select(i => new PickedMicrograph(i, i % 500, 0.1f, $"node-{i % 64}")).ToList()));
        var used = GC.GetTotalMemory(forceFullCollection: true) - before;
        GC.KeepAlive(spec);
        Assert.Equal((100_000, 100_000), (state.Done, state.Total));
        // The names and file names themselves are about 100 bytes a micrograph as .NET strings; the state adds a few bytes.
        var stringBytes = 100_000L * 2 * (24 + 2 * 14);
        Assert.True(used < stringBytes + 100_000L * 40, $"{used / 1e6:0.0} MB for 100,000 micrographs");
        var snapshot = state.ToSnapshot();
        var restored = CampaignState.FromSnapshot(snapshot);
        Assert.Equal((100_000, 200L * (499 * 500 / 2)), (restored.Done, restored.Particles));
    }
}
