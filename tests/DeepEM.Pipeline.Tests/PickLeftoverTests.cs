using DeepEM.Formats.Coordinates;
using DeepEM.Pipeline.Picking;
using DeepEM.TestSupport;

namespace DeepEM.Pipeline.Tests;

/// <summary>What a writer killed between writing and renaming leaves (its temporary file), and who clears it away.</summary>
public class PickLeftoverTests : IDisposable
{
    private readonly TempFolder _temp = TestPaths.NewTemp();

    private string Dir => _temp.Path;

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Picks_written_whole_are_read_back_and_a_missing_or_unreadable_star_is_none()
    {
        var outputs = new PickOutputs(Dir, [CoordinateFormat.Star, CoordinateFormat.Box], 48);
        var picks = new List<Pick> { new(120.5, 88, 0.93), new(400, 321.25, 0.71) };
        Assert.Null(PickOutputs.ReadWritten(Dir, "mic_1"));
        outputs.Write("mic_1", picks);
        var read = PickOutputs.ReadWritten(Dir, "mic_1");
        Assert.NotNull(read);
        Assert.Equal(picks.Select(p => (p.X, p.Y, p.Score)), read.Select(p => (p.X, p.Y, p.Score)));
        // Only the .box there (the writer died before the .star, which goes last): not written whole.
        outputs.Write("mic_2", picks);
        File.Delete(Path.Combine(Dir, "mic_2.star"));
        Assert.Null(PickOutputs.ReadWritten(Dir, "mic_2"));
        File.WriteAllText(Path.Combine(Dir, "mic_3.star"), "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\nnot a number\n");
        Assert.Null(PickOutputs.ReadWritten(Dir, "mic_3"));
        Assert.Throws<ArgumentException>(() => PickOutputs.ReadWritten(Dir, "../elsewhere"));
    }

    [Fact]
    public void Leftovers_of_the_runs_files_go_and_everything_else_stays()
    {
        var outputs = new PickOutputs(Dir, [CoordinateFormat.Star, CoordinateFormat.Box], 48);
        var picks = new List<Pick> { new(120.5, 88, 0.93), new(400, 321.25, 0.71) };
        var leftovers = new[]
        {
            KilledWriters.LeaveTemporaryFileOf(Path.Combine(Dir, "mic_0003.box")),
            KilledWriters.LeaveTemporaryFileOf(Path.Combine(Dir, "mic_0003.star")),
            KilledWriters.LeaveTemporaryFileOf(Path.Combine(Dir, "autopick.star")),
            KilledWriters.LeaveTemporaryFileOf(Path.Combine(Dir, "Micrographs", "mic_0009.star")),
        };
        // Not this run's: another micrograph's, a file that is not a coordinate file, campaign.json where it was not asked
        // for, a user's own hidden file; and one of the run's files whose writer is at work (written after the run ended).
        var kept = new[]
        {
            KilledWriters.LeaveTemporaryFileOf(Path.Combine(Dir, "mic_0004.star")),
            KilledWriters.LeaveTemporaryFileOf(Path.Combine(Dir, "mic_0003.mrc")),
            KilledWriters.LeaveTemporaryFileOf(Path.Combine(Dir, "campaign.json")),
            Path.Combine(Dir, ".notes.tmp"),
            KilledWriters.LeaveTemporaryFileOf(Path.Combine(Dir, "mic_0003.star"), ago: TimeSpan.FromMinutes(-1)),
        };
        File.WriteAllText(kept[3], "mine");
        Assert.All(leftovers.Concat(kept), f => Assert.True(File.Exists(f), f));
        outputs.Write("mic_0003", picks);
        outputs.Write("Micrographs/mic_0009", picks);

        var over = DateTime.UtcNow;
        Assert.Equal(4, outputs.RemoveLeftovers(["mic_0003", "Micrographs/mic_0009"], over));

        Assert.All(leftovers, f => Assert.False(File.Exists(f), f));
        Assert.All(kept, f => Assert.True(File.Exists(f), f));
        Assert.Equal(RelionStarCoordinates.ToText(picks), File.ReadAllText(Path.Combine(Dir, "mic_0003.star")));
        Assert.Equal(0, outputs.RemoveLeftovers(["mic_0003", "Micrographs/mic_0009"], over));
        // Asked for by the caller (the campaign's summary), campaign.json's goes too.
        Assert.Equal(1, outputs.RemoveLeftovers([], over, ["campaign.json"]));
        Assert.False(File.Exists(kept[2]));
    }
}
