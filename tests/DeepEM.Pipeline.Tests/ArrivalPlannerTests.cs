using DeepEM.Pipeline.Arrivals;

namespace DeepEM.Pipeline.Tests;

/// <summary>When a file in a watched folder counts as completely written (the time is the test's own).</summary>
public class ArrivalPlannerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 2, 9, 0, 0, TimeSpan.Zero);
    private static readonly DateTime Written = new(2026, 12, 2, 8, 59, 0, DateTimeKind.Utc);

    private static DateTimeOffset At(double seconds) => T0.AddSeconds(seconds);

    [Fact]
    public void A_file_copied_in_pieces_arrives_only_after_two_looks_a_settle_time_apart_saw_it_unchanged()
    {
        var planner = new ArrivalPlanner(TimeSpan.FromSeconds(2));
        // A copy: 1 MB, 2 MB, 3 MB, a second apart, each write moving the modification time.
        for (var i = 1; i <= 3; i++)
        {
            planner.Seen(new FileLook("/w/a.mrc", i << 20, Written.AddSeconds(i)), At(i));
            Assert.Empty(planner.TakeComplete());
        }
        Assert.Equal(["/w/a.mrc"], planner.Waiting);
        // Unchanged, but only 1.5 s after the last change: not yet.
        planner.Seen(new FileLook("/w/a.mrc", 3 << 20, Written.AddSeconds(3)), At(4.5));
        Assert.Empty(planner.TakeComplete());
        // Two seconds after the look that first saw the final state.
        planner.Seen(new FileLook("/w/a.mrc", 3 << 20, Written.AddSeconds(3)), At(5));
        var arrival = Assert.Single(planner.TakeComplete());
        Assert.Equal(new Arrival("/w/a.mrc", At(1), At(5), ByRename: false) { LastChanged = At(3) }, arrival);
        Assert.Empty(planner.Waiting);
        Assert.True(planner.HasArrived("/w/a.mrc"));
    }

    [Fact]
    public void A_write_that_keeps_the_length_but_moves_the_modification_time_starts_the_wait_again()
    {
        var planner = new ArrivalPlanner(TimeSpan.FromSeconds(2));
        // A writer that allocated the whole file first, then fills it in.
        planner.Seen(new FileLook("/w/b.mrc", 4096, Written), At(0));
        planner.Seen(new FileLook("/w/b.mrc", 4096, Written.AddSeconds(1.5)), At(2.5));
        Assert.Empty(planner.TakeComplete());
        planner.Seen(new FileLook("/w/b.mrc", 4096, Written.AddSeconds(1.5)), At(4.4));
        Assert.Empty(planner.TakeComplete());
        planner.Seen(new FileLook("/w/b.mrc", 4096, Written.AddSeconds(1.5)), At(4.5));
        var arrival = Assert.Single(planner.TakeComplete());
        Assert.Equal((At(4.5), At(2.5)), (arrival.CompleteAt, arrival.LastChanged));
    }

    [Fact]
    public void An_empty_file_waits_until_something_is_written_and_then_settles()
    {
        var planner = new ArrivalPlanner(TimeSpan.FromSeconds(1));
        planner.Seen(new FileLook("/w/c.mrc", 0, Written), At(0));
        planner.Seen(new FileLook("/w/c.mrc", 0, Written), At(5));
        Assert.Empty(planner.TakeComplete());
        planner.Seen(new FileLook("/w/c.mrc", 1024, Written.AddSeconds(6)), At(6));
        planner.Seen(new FileLook("/w/c.mrc", 1024, Written.AddSeconds(6)), At(7));
        Assert.Equal(At(0), Assert.Single(planner.TakeComplete()).FirstSeen);
    }

    [Fact]
    public void A_file_renamed_into_place_arrives_at_once_and_only_once()
    {
        var planner = new ArrivalPlanner(TimeSpan.FromSeconds(30));
        planner.RenamedIn(new FileLook("/w/d.mrc", 8192, Written), At(3));
        Assert.Equal(new Arrival("/w/d.mrc", At(3), At(3), ByRename: true), Assert.Single(planner.TakeComplete()));
        // The listing and later events see it again; it is not handed out twice, also when rewritten.
        planner.Seen(new FileLook("/w/d.mrc", 8192, Written), At(40));
        planner.Seen(new FileLook("/w/d.mrc", 9000, Written.AddMinutes(1)), At(100));
        planner.Seen(new FileLook("/w/d.mrc", 9000, Written.AddMinutes(1)), At(200));
        Assert.Empty(planner.TakeComplete());
        Assert.Empty(planner.Waiting);
        Assert.Equal(1, planner.Arrived);
    }

    [Fact]
    public void What_a_resumed_run_handed_out_before_never_arrives_again_and_new_files_arrive_in_order()
    {
        var planner = new ArrivalPlanner(TimeSpan.FromSeconds(1), ["/w/old1.mrc", "/w/old2.mrc"]);
        foreach (var name in new[] { "old1", "old2", "new2", "new1" })
        {
            planner.Seen(new FileLook($"/w/{name}.mrc", 100, Written), At(0));
        }
        planner.Seen(new FileLook("/w/late.mrc", 100, Written), At(0.5));
        foreach (var name in new[] { "old1", "old2", "new1", "new2", "late" })
        {
            planner.Seen(new FileLook($"/w/{name}.mrc", 100, Written), At(2));
        }
        // Complete at the same moment: first seen first, then by path.
        Assert.Equal(["/w/new1.mrc", "/w/new2.mrc", "/w/late.mrc"], planner.TakeComplete().Select(a => a.Path));
        Assert.Equal(5, planner.Arrived);
    }

    [Fact]
    public void A_file_that_goes_away_before_it_settles_does_not_arrive()
    {
        var planner = new ArrivalPlanner(TimeSpan.FromSeconds(1));
        // rsync's temporary file, renamed to its real name: the temporary one is gone, the real one arrives.
        planner.Seen(new FileLook("/w/e.mrc.tmp", 100, Written), At(0));
        planner.Gone("/w/e.mrc.tmp");
        planner.RenamedIn(new FileLook("/w/e.mrc", 100, Written), At(0.2));
        planner.Seen(new FileLook("/w/e.mrc.tmp", 100, Written), At(5));
        Assert.Equal(["/w/e.mrc"], planner.TakeComplete().Select(a => a.Path));
        Assert.Equal(["/w/e.mrc.tmp"], planner.Waiting);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ArrivalPlanner(TimeSpan.Zero));
    }
}
