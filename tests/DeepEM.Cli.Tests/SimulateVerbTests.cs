using System.Buffers.Binary;
using DeepEM.Formats.Coordinates;
using DeepEM.Formats.Mrc;
using DeepEM.TestSupport;

namespace DeepEM.Cli.Tests;

public class SimulateVerbTests
{
    [Fact]
    public void Same_seed_gives_byte_identical_files_that_follow_the_mrc_standard()
    {
        using var temp = TestPaths.NewTemp();
        var a = Path.Combine(temp.Path, "a");
        var b = Path.Combine(temp.Path, "b");
        var first = DeepemProcess.Run("simulate", "--out", a, "--count", "4", "--seed", "7");
        Assert.True(first.ExitCode == 0, first.Stderr);
        Assert.Equal(0, DeepemProcess.Run("simulate", "--out", b, "--count", "4", "--seed", "7").ExitCode);

        var filesA = Directory.GetFiles(a, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a, f)).Order().ToArray();
        var filesB = Directory.GetFiles(b, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(b, f)).Order().ToArray();
        Assert.Equal(8, filesA.Length);
        Assert.Equal(filesA, filesB);
        foreach (var f in filesA)
        {
            Assert.True(File.ReadAllBytes(Path.Combine(a, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(b, f))), $"{f} differs");
        }

        // Every micrograph: a 2014 header any MRC reader accepts, and a truth file with its particles.
        for (var i = 0; i < 4; i++)
        {
            var mrc = Path.Combine(a, "micrographs", $"mic_{i:D4}.mrc");
            var h = File.ReadAllBytes(mrc)[..1024];
            Assert.Equal(1024, BinaryPrimitives.ReadInt32LittleEndian(h));
            Assert.Equal(1024, BinaryPrimitives.ReadInt32LittleEndian(h.AsSpan(4)));
            Assert.Equal(1, BinaryPrimitives.ReadInt32LittleEndian(h.AsSpan(8)));
            Assert.Equal(2, BinaryPrimitives.ReadInt32LittleEndian(h.AsSpan(12)));
            Assert.Equal("MAP ", System.Text.Encoding.ASCII.GetString(h, 208, 4));
            Assert.Equal(0x44, h[212]);
            Assert.Equal(20140, BinaryPrimitives.ReadInt32LittleEndian(h.AsSpan(108)));
            Assert.Equal(1024 + 1024 * 1024 * 4, new FileInfo(mrc).Length);
            using var file = MrcFile.Open(mrc);
            Assert.Equal(4.0, file.Header.PixelSizeAngstrom!.Value, 6);
            var truth = RelionStarCoordinates.ReadOne(Path.Combine(a, "truth", $"mic_{i:D4}.star"));
            Assert.InRange(truth.Count, 50, 200);
        }

        var other = Path.Combine(temp.Path, "c");
        Assert.Equal(0, DeepemProcess.Run("simulate", "--out", other, "--count", "1", "--seed", "8").ExitCode);
        Assert.False(File.ReadAllBytes(Path.Combine(a, "micrographs", "mic_0000.mrc")).AsSpan()
            .SequenceEqual(File.ReadAllBytes(Path.Combine(other, "micrographs", "mic_0000.mrc"))));
    }

    [Fact]
    public void Bad_values_are_usage_errors()
    {
        using var temp = TestPaths.NewTemp();
        var r = DeepemProcess.Run("simulate", "--out", temp.Path, "--count", "0");
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("deepem: error: --count 0", r.Stderr);
        var box = DeepemProcess.Run("simulate", "--out", temp.Path, "--size", "128", "--box", "100");
        Assert.Equal(2, box.ExitCode);
        Assert.Contains("box 100", box.Stderr);
    }
}
