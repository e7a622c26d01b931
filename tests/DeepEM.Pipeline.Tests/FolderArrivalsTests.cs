using DeepEM.Pipeline.Arrivals;

using DeepEM.TestSupport;

namespace DeepEM.Pipeline.Tests;

/// <summary>The folder watch on real files: listings with a clock the test moves, and inotify events.</summary>
public class FolderArrivalsTests : IDisposable
{
    private readonly TempFolder _temp = TestPaths.NewTemp();

    private string Dir => _temp.Path;

    public void Dispose() => _temp.Dispose();

    private sealed class Clock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 12, 2, 9, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static bool IsMicrograph(string path) => path.EndsWith(".mrc", StringComparison.Ordinal);

    private static void Append(string path, int bytes, DateTime modified)
    {
        using (var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) stream.Write(new byte[bytes]);
        // The time is set, not left to the file system's clock granularity: every piece moves it.
        File.SetLastWriteTimeUtc(path, modified);
    }

    [Fact]
    public void Listings_find_files_a_slow_copy_arrives_when_it_settles_and_hidden_or_foreign_files_never()
    {
        var clock = new Clock();
        var planner = new ArrivalPlanner(TimeSpan.FromSeconds(2));
        // Listing on every round: the test sees only what listings find, whatever the events do.
        using var watch = new FolderArrivals([WatchedPlace.Of(Dir)!], IsMicrograph, planner, TimeSpan.Zero, clock);
        var written = new DateTime(2026, 12, 2, 8, 0, 0, DateTimeKind.Utc);
        var slow = Path.Combine(Dir, "slow.mrc");
        File.WriteAllBytes(Path.Combine(Dir, "done.mrc"), new byte[4096]);
        File.WriteAllBytes(Path.Combine(Dir, ".done2.mrc.1234.tmp"), new byte[4096]);
        File.WriteAllBytes(Path.Combine(Dir, "notes.txt"), new byte[10]);
        Append(slow, 1000, written);
        Assert.Empty(watch.Poll());

        clock.Now += TimeSpan.FromSeconds(3);
        Append(slow, 1000, written.AddSeconds(3));
        // done.mrc was unchanged for 3 s; slow.mrc grew.
        Assert.Equal([Path.Combine(Dir, "done.mrc")], watch.Poll().Select(a => a.Path));

        clock.Now += TimeSpan.FromSeconds(1);
        Assert.Empty(watch.Poll());
        clock.Now += TimeSpan.FromSeconds(1.5);
        var arrival = Assert.Single(watch.Poll());
        Assert.Equal((slow, false), (arrival.Path, arrival.ByRename));
        Assert.Equal(2, planner.Arrived);

        clock.Now += TimeSpan.FromSeconds(10);
        Assert.Empty(watch.Poll());
        Assert.Empty(planner.Waiting);
        Assert.True(watch.Listings >= 4);
    }

    [Fact]
    public async Task A_file_renamed_into_place_arrives_by_its_event_without_a_listing()
    {
        var planner = new ArrivalPlanner(TimeSpan.FromHours(1));
        // Listed once at the first round (an empty folder), then not for an hour: only the event can bring it.
        using var watch = new FolderArrivals([WatchedPlace.Of(Path.Combine(Dir, "*.mrc"))!], IsMicrograph, planner, TimeSpan.FromHours(1));
        Assert.Null(watch.EventsUnavailable);
        Assert.Empty(watch.Poll());
        var temporary = Path.Combine(Dir, ".mic_7.mrc.partial");
        File.WriteAllBytes(temporary, new byte[2048]);
        File.Move(temporary, Path.Combine(Dir, "mic_7.mrc"));

        var arrived = new List<Arrival>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (arrived.Count == 0)
        {
            // Seen but waiting would mean the rename came as a new file (it would settle in an hour): say so.
            if (DateTime.UtcNow > deadline) Assert.Fail($"no arrival by its rename within 30 s; waiting: [{string.Join(", ", planner.Waiting)}]");
            await Task.Delay(50);
            arrived.AddRange(watch.Poll());
        }
        var arrival = Assert.Single(arrived);
        Assert.Equal((Path.Combine(Dir, "mic_7.mrc"), true), (arrival.Path, arrival.ByRename));
        Assert.Equal(1, watch.Listings);
    }

    [Fact]
    public void Places_are_folders_and_patterns_and_nothing_else()
    {
        Assert.Equal(new WatchedPlace(Dir, "*"), WatchedPlace.Of(Dir));
        Assert.Equal(new WatchedPlace(Dir, "mic_*.tif"), WatchedPlace.Of(Path.Combine(Dir, "mic_*.tif")));
        File.WriteAllBytes(Path.Combine(Dir, "one.mrc"), [1]);
        Assert.Null(WatchedPlace.Of(Path.Combine(Dir, "one.mrc")));
    }
}
