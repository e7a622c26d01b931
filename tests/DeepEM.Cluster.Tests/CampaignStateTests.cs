using DeepEM.Cluster.Campaigns;
using DeepEM.Cluster.Protocol;

namespace DeepEM.Cluster.Tests;

/// <summary>The coordinator's bookkeeping, without actors: what is open, in flight, recorded, done, failed, handed back.</summary>
public sealed class CampaignStateTests
{
    private static CampaignSpec Spec(int count, params string[] alreadyDone) => new("c", "/out", "/m", new string('a', 64), 10,
        Enumerable.Range(0, count).Select(i => new MicrographRef($"m{i}", $"/data/m{i}.mrc")).ToList(), new Pipeline.Picking.PickSettings(), 1, alreadyDone);

    private static MicrographsPicked Picked(int index, int particles, string node = "n1") => new("c", [new PickedMicrograph(index, particles, 0.5f, node)]);

    [Fact]
    public void Takes_in_submission_order_and_skips_what_was_already_there()
    {
        var state = new CampaignState(Spec(4, "m1"));
        Assert.Equal((4, 1, 3), (state.Total, state.Skipped, state.Pending));
        Assert.Equal(0, state.TakeNext());
        Assert.Equal(2, state.TakeNext());
        Assert.Equal((2, 1), (state.InFlight, state.Pending));
        Assert.Equal(new MicrographRef("m2", "/data/m2.mrc"), state[2]);
    }

    [Fact]
    public void Handed_back_work_goes_first_and_is_failed_after_its_last_attempt()
    {
        var state = new CampaignState(Spec(3));
        var first = state.TakeNext()!.Value;
        state.TakeNext();
        Assert.Equal(1, state.HandBack(first, maxAttempts: 2));
        Assert.Equal(first, state.TakeNext());
        Assert.Equal(2, state.HandBack(first, maxAttempts: 2));
        // Its attempts are used up: it is not queued again (the coordinator records it as failed).
        Assert.Equal(2, state.TakeNext());
        Assert.Null(state.TakeNext());
        state.Apply(new MicrographFailed("c", "m0", "lost twice", first));
        Assert.Equal(1, state.Failed);
    }

    [Fact]
    public void Work_that_only_waited_on_a_lost_node_does_not_use_an_attempt()
    {
        var state = new CampaignState(Spec(2));
        var index = state.TakeNext()!.Value;
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(0, state.HandBack(index, maxAttempts: 2, countAttempt: false));
            Assert.Equal(index, state.TakeNext());
        }
    }

    [Fact]
    public void A_late_result_settles_a_micrograph_that_was_queued_again()
    {
        var state = new CampaignState(Spec(2));
        var index = state.TakeNext()!.Value;
        state.HandBack(index, maxAttempts: 3);
        state.Apply(Picked(index, 12, "n1"));
        state.Apply(Picked(index, 12, "n2"));
        Assert.Equal(1, state.TakeNext());
        Assert.Null(state.TakeNext());
        Assert.Equal((1, 12L), (state.Done, state.Particles));
        Assert.Equal([("n1", 1)], state.Status(0, 0).Nodes.Select(n => (n.Node, n.Micrographs)));
    }

    [Fact]
    public void A_result_being_recorded_is_neither_handed_out_again_nor_recorded_twice()
    {
        var state = new CampaignState(Spec(2));
        var index = state.TakeNext()!.Value;
        Assert.True(state.TryRecord(index));
        Assert.False(state.TryRecord(index));
        // The node that held it is lost meanwhile: the result is on its way into the journal, nothing to hand back.
        state.HandBack(index, maxAttempts: 3);
        Assert.Equal(1, state.TakeNext());
        Assert.Null(state.TakeNext());
        Assert.Equal((2, 0), (state.InFlight, state.Done));
        state.Apply(Picked(index, 5));
        Assert.Equal((1, 1), (state.InFlight, state.Done));
        Assert.False(state.TryRecord(index));
    }

    [Fact]
    public void A_failed_micrograph_submitted_again_is_tried_again()
    {
        var state = new CampaignState(Spec(2));
        state.TakeNext();
        state.Apply(new MicrographFailed("c", "m0", "truncated", 0));
        Assert.True(state.HasFailed("m0"));
        state.Apply(new MicrographsAdded("c", [new MicrographRef("m0", "/data/m0.mrc")], []));
        Assert.False(state.HasFailed("m0"));
        Assert.Equal(1, state.TakeNext());
        Assert.Equal(0, state.TakeNext());
    }

    [Fact]
    public void A_done_micrograph_submitted_again_is_picked_again_and_counted_once()
    {
        var state = new CampaignState(Spec(2));
        state.TakeNext();
        state.Apply(Picked(0, 30));
        // Its picks were deleted from the output folder, and the same command was run again.
        state.Apply(new MicrographsAdded("c", [new MicrographRef("m0", "/data/m0.mrc")], []));
        Assert.Equal((0, 0L), (state.Done, state.Particles));
        Assert.Equal(1, state.TakeNext());
        Assert.Equal(0, state.TakeNext());
        state.Apply(Picked(0, 31, "n2"));
        Assert.Equal((1, 31L), (state.Done, state.Particles));
    }

    [Fact]
    public void Events_of_older_versions_name_micrographs_and_still_apply()
    {
        var state = new CampaignState(Spec(3));
        state.Apply(new MicrographPicked("c", "m1", "n1", 9, 0.5));
        state.Apply(new MicrographFailed("c", "m2", "truncated"));
        Assert.Equal((1, 1, 9L), (state.Done, state.Failed, state.Particles));
        Assert.True(state.IsSettled(1) && state.HasFailed("m2"));
    }

    [Fact]
    public void Micrographs_added_later_keep_their_order_and_an_added_batch_reopens_a_complete_campaign()
    {
        var state = new CampaignState(Spec(2));
        state.Apply(Picked(0, 1));
        state.Apply(Picked(1, 1));
        state.Apply(new CampaignCompleted("c", 99));
        Assert.True(state.Complete);
        state.Apply(new MicrographsAdded("c", [new MicrographRef("m2", "/data/m2.mrc"), new MicrographRef("x", "x.mrc")], ["x"]));
        Assert.False(state.Complete);
        Assert.Equal((4, 1, 1), (state.Total, state.Skipped, state.Pending));
        Assert.Equal(2, state.TakeNext());
        Assert.Equal(["m0", "m1", "x"], state.WithPicks.Select(m => m.Name));
        Assert.Equal("x.mrc", state[3].Path);
    }

    [Fact]
    public void Snapshot_restores_counts_and_what_is_left()
    {
        var state = new CampaignState(Spec(5, "m4"));
        state.TakeNext();
        state.Apply(Picked(0, 7));
        state.TakeNext();
        state.Apply(new MicrographFailed("c", "m1", "bad", 1));
        state.TakeNext(); // m2 in flight: not in the snapshot, so pending again after recovery
        var restored = CampaignState.FromSnapshot(state.ToSnapshot());
        Assert.Equal((5, 1, 1, 1, 0, 2), (restored.Total, restored.Done, restored.Skipped, restored.Failed, restored.InFlight, restored.Pending));
        Assert.Equal([2, 3], new[] { restored.TakeNext()!.Value, restored.TakeNext()!.Value });
        Assert.Null(restored.TakeNext());
        Assert.Equal(7, restored.Particles);
        Assert.Equal("bad", Assert.Single(restored.Status(0, 0).Failures).Error);
        Assert.Equal(["m0", "m4"], restored.WithPicks.Select(m => m.Name));
    }

    [Fact]
    public void A_watched_campaign_keeps_arrival_times_reports_latency_by_rank_and_survives_a_snapshot()
    {
        var state = new CampaignState(Spec(0));
        state.Apply(new CampaignWatched("c", true));
        // Twenty micrographs arrive; latencies 0.5, 1.0, ... 10.0 s (unsorted, as results come in any order).
        state.Apply(new MicrographsAdded("c", Enumerable.Range(0, 20).Select(i => new MicrographRef($"w{i}", $"/in/w{i}.mrc") { ArrivedUnixMs = 1000 + i }).ToList(), []));
        Assert.Equal((20, 20), (state.Arrived, state.Backlog));
        Assert.Equal(1007, state.ArrivedAt(7));
        Assert.Equal(1007, state[7].ArrivedUnixMs);
        foreach (var i in Enumerable.Range(0, 20).Reverse()) state.Apply(new MicrographsPicked("c", [new PickedMicrograph(state.TakeNext()!.Value, 3, 0.5f, "n", 0.5f * (20 - i))]));
        Assert.True(state.AllSettled);
        Assert.True(state.Watching);
        var status = state.Status(0, 0);
        // Nearest rank: the 10th of 20 sorted values is the median, the 19th the 95th percentile.
        Assert.Equal((20, 5.0, 9.5, 10.0), (status.LatencyCount, status.LatencyMedianSeconds, status.LatencyP95Seconds, status.LatencyMaxSeconds));
        Assert.Equal((true, 20, 0), (status.Watching, status.Arrived, status.Backlog));

        var restored = CampaignState.FromSnapshot(state.ToSnapshot());
        Assert.True(restored.Watching);
        Assert.Equal(1007, restored.ArrivedAt(7));
        var again = restored.Status(0, 0);
        Assert.Equal((20, 5.0, 9.5, 10.0), (again.LatencyCount, again.LatencyMedianSeconds, again.LatencyP95Seconds, again.LatencyMaxSeconds));

        // The watch ends; watched again later, a completed campaign opens again.
        state.Apply(new CampaignWatched("c", false));
        state.Apply(new CampaignCompleted("c", 5000));
        Assert.True(state.Complete);
        state.Apply(new CampaignWatched("c", true));
        Assert.False(state.Complete);
    }
}
