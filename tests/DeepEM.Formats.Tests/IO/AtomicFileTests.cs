using DeepEM.Formats.Coordinates;
using DeepEM.Formats.IO;

namespace DeepEM.Formats.Tests.IO;

public class AtomicFileTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"deepem-atomic-{Guid.NewGuid():N}");

    public AtomicFileTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Several_files_are_written_whole_replacing_older_ones_and_no_temporary_file_stays()
    {
        var box = Path.Combine(_dir, "m1.box");
        var star = Path.Combine(_dir, "m1.star");
        File.WriteAllText(box, "old content that is longer than the new one\n");
        AtomicFile.WriteAllTexts([(box, "10\t20\t64\t64\n"), (star, "data_\nloop_\n_rlnCoordinateX #1\n42\n")]);
        Assert.Equal("10\t20\t64\t64\n", File.ReadAllText(box));
        Assert.Equal("data_\nloop_\n_rlnCoordinateX #1\n42\n", File.ReadAllText(star));
        Assert.Equal(["m1.box", "m1.star"], Directory.GetFiles(_dir).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void When_one_file_cannot_be_written_none_is_renamed_into_place()
    {
        var box = Path.Combine(_dir, "m2.box");
        // The second file's folder would have to be inside a regular file: it fails after the first one was written to
        // its temporary file, and before anything is renamed.
        var notAFolder = Path.Combine(_dir, "plain");
        File.WriteAllText(notAFolder, "x");
        Assert.ThrowsAny<IOException>(() => AtomicFile.WriteAllTexts([(box, "1\t2\t64\t64\n"), (Path.Combine(notAFolder, "m2.star"), "data_\n")]));
        Assert.False(File.Exists(box));
        Assert.Equal(["plain"], Directory.GetFiles(_dir).Select(Path.GetFileName));
    }

    [Fact]
    public void A_streamed_index_is_the_same_text_as_the_index_made_in_memory()
    {
        var entries = Enumerable.Range(0, 2500).Select(i => new AutopickEntry($"Micrographs/mic {i:00000}.mrc", $"picks/mic_{i:00000}.star")).ToList();
        var path = Path.Combine(_dir, "autopick.star");
        AutopickIndex.Write(path, entries);
        Assert.Equal(AutopickIndex.ToText(entries), File.ReadAllText(path));
        Assert.Equal(entries, AutopickIndex.Read(path));
    }
}
