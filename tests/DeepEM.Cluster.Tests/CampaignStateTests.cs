using DeepEM.Cluster.Campaigns;
using DeepEM.Cluster.Protocol;

namespace DeepEM.Cluster.Tests;

/// <summary>The coordinator's bookkeeping, without actors: what is pending, in flight, done, failed, handed back.</summary>
public sealed class CampaignStateTests
{
    private static CampaignSpec Spec(int count, params string[] alreadyDone) => new("c", "/out", "/m", new string('a', 64), 10,
        Enumerable.Range(0, count).Select(i => new MicrographRef($"m{i}", $"/data/m{i}.mrc")).ToList(), new PickSettings(), 1, alreadyDone);

    [Fact]
    public void Takes_in_submission_order_and_skips_what_was_already_there()
    {
        var state = new CampaignState(Spec(4, "m1"));
        Assert.Equal((4, 1, 3), (state.Total, state.Skipped, state.Pending));
        Assert.Equal("m0", state.TakeNext()!.Name);
        Assert.Equal("m2", state.TakeNext()!.Name);
        Assert.Equal((2, 1), (state.InFlight, state.Pending));
    }

    [Fact]
    public void Handed_back_work_goes_first_and_is_failed_after_its_last_attempt()
    {
        var state = new CampaignState(Spec(3));
        var first = state.TakeNext()!.Name;
        state.TakeNext();
        Assert.Equal(1, state.HandBack(first, maxAttempts: 2));
        Assert.Equal(first, state.TakeNext()!.Name);
        Assert.Equal(2, state.HandBack(first, maxAttempts: 2));
        // Its attempts are used up: it is not queued again (the coordinator records it as failed).
        Assert.Equal("m2", state.TakeNext()!.Name);
        Assert.Null(state.TakeNext());
        state.Apply(new MicrographFailed("c", first, "lost twice"));
        Assert.Equal(1, state.Failed);
    }

    [Fact]
    public void A_late_result_settles_a_micrograph_that_was_queued_again()
    {
        var state = new CampaignState(Spec(2));
        var name = state.TakeNext()!.Name;
        state.HandBack(name, maxAttempts: 3);
        state.Apply(new MicrographPicked("c", name, "n1", 12, 0.5));
        state.Apply(new MicrographPicked("c", name, "n2", 12, 0.5));
        Assert.Equal("m1", state.TakeNext()!.Name);
        Assert.Null(state.TakeNext());
        Assert.Equal((1, 12L), (state.Done, state.Particles));
    }

    [Fact]
    public void A_failed_micrograph_submitted_again_is_tried_again()
    {
        var state = new CampaignState(Spec(2));
        state.TakeNext();
        state.Apply(new MicrographFailed("c", "m0", "truncated"));
        Assert.True(state.HasFailed("m0"));
        state.Apply(new MicrographsAdded("c", [new MicrographRef("m0", "/data/m0.mrc")], []));
        Assert.False(state.HasFailed("m0"));
        Assert.Equal("m1", state.TakeNext()!.Name);
        Assert.Equal("m0", state.TakeNext()!.Name);
    }

    [Fact]
    public void A_done_micrograph_submitted_again_is_picked_again_and_counted_once()
    {
        var state = new CampaignState(Spec(2));
        state.TakeNext();
        state.Apply(new MicrographPicked("c", "m0", "n1", 30, 0.5));
        // Its picks were deleted from the output folder, and the same command was run again.
        state.Apply(new MicrographsAdded("c", [new MicrographRef("m0", "/data/m0.mrc")], []));
        Assert.Equal((0, 0L), (state.Done, state.Particles));
        Assert.Equal("m1", state.TakeNext()!.Name);
        Assert.Equal("m0", state.TakeNext()!.Name);
        state.Apply(new MicrographPicked("c", "m0", "n2", 31, 0.5));
        Assert.Equal((1, 31L), (state.Done, state.Particles));
    }

    [Fact]
    public void Snapshot_restores_counts_and_what_is_left()
    {
        var state = new CampaignState(Spec(5, "m4"));
        state.TakeNext();
        state.Apply(new MicrographPicked("c", "m0", "n1", 7, 1.5));
        state.TakeNext();
        state.Apply(new MicrographFailed("c", "m1", "bad"));
        state.TakeNext(); // m2 in flight: not in the snapshot, so pending again after recovery
        var restored = CampaignState.FromSnapshot(state.ToSnapshot());
        Assert.Equal((5, 1, 1, 1, 0, 2), (restored.Total, restored.Done, restored.Skipped, restored.Failed, restored.InFlight, restored.Pending));
        Assert.Equal(["m2", "m3"], new[] { restored.TakeNext()!.Name, restored.TakeNext()!.Name });
        Assert.Null(restored.TakeNext());
        Assert.Equal(7, restored.Particles);
    }
}
