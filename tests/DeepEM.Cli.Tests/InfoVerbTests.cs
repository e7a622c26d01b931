using System.Buffers.Binary;
using DeepEM.Formats.Mrc;
using DeepEM.Imaging;
using DeepEM.TestSupport;

namespace DeepEM.Cli.Tests;

public class InfoVerbTests
{
    private static byte[] Header(int nx, int ny, int nz, int mode)
    {
        var h = new byte[1024];
        void I(int o, int v) => BinaryPrimitives.WriteInt32LittleEndian(h.AsSpan(o), v);
        I(0, nx); I(4, ny); I(8, nz); I(12, mode); I(28, nx); I(32, ny); I(36, 1); I(64, 1); I(68, 2); I(72, 3);
        "MAP "u8.CopyTo(h.AsSpan(208));
        h[212] = 0x44; h[213] = 0x44;
        return h;
    }

    [Fact]
    public void Bad_files_get_one_line_each_and_the_good_ones_are_still_reported()
    {
        using var temp = TestPaths.NewTemp();
        var good = new Image2D(64, 32);
        for (var i = 0; i < good.Data.Length; i++) good.Data[i] = i % 17 + 0.5f;
        MrcWriter.Write(temp.File("good.mrc"), good, MrcMode.Float32, 1.77);
        MrcWriter.Write(temp.File("good16.mrc"), good, MrcMode.UInt16, 1.0);
        File.WriteAllBytes(temp.File("truncated.mrc"), [.. Header(4096, 4096, 1, 2), .. new byte[10_000]]);
        File.WriteAllBytes(temp.File("wrongmode.mrc"), [.. Header(8, 8, 1, 3), .. new byte[256]]);
        File.WriteAllBytes(temp.File("absurd.mrc"), [.. Header(-4, 1 << 30, 1, 2), .. new byte[256]]);
        File.WriteAllBytes(temp.File("empty.mrc"), []);
        File.WriteAllText(temp.File("notes.mrc"), string.Concat(Enumerable.Repeat("this is a text file, not a micrograph\n", 50)));
        var nan = new Image2D(16, 16);
        nan.Data.AsSpan().Fill(float.NaN);
        MrcWriter.Write(temp.File("nan.mrc"), nan);

        var bad = new (string file, string problem)[]
        {
            ("truncated.mrc", "truncated"),
            ("wrongmode.mrc", "unsupported MRC mode 3"),
            ("absurd.mrc", "absurd dimensions"),
            ("empty.mrc", "empty file"),
            ("notes.mrc", "not an MRC file"),
            ("nan.mrc", "256 of 256 pixels are NaN or infinite"),
        };
        var args = new List<string> { "info", temp.File("good.mrc") };
        args.AddRange(bad.Select(b => temp.File(b.file)));
        args.Add(temp.File("good16.mrc"));
        var r = DeepemProcess.Run([.. args]);

        Assert.Equal(3, r.ExitCode);
        Assert.Equal(bad.Length, r.ErrorLines.Length);
        foreach (var (file, problem) in bad)
        {
            var line = Assert.Single(r.ErrorLines, l => l.Contains(file));
            Assert.StartsWith($"deepem: error: {temp.File(file)}: ", line);
            Assert.Contains(problem, line);
        }
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.DoesNotContain("Exception", r.Stderr);
        var outLines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, outLines.Length);
        Assert.Contains("good.mrc: 64 x 32, mode 2 (float32), 1.77 Å/px, min 0.5 max 16.5", outLines[0]);
        Assert.Contains("good16.mrc: 64 x 32, mode 6 (uint16), 1 Å/px", outLines[1]);
    }

    [Fact]
    public void Folders_and_patterns_expand_and_a_missing_path_is_a_failed_input()
    {
        using var temp = TestPaths.NewTemp();
        var image = new Image2D(8, 8);
        image.Data.AsSpan().Fill(2f);
        image.Data[0] = 1f;
        MrcWriter.Write(temp.File("a.mrc"), image);
        MrcWriter.Write(temp.File("b.mrc"), image);
        var r = DeepemProcess.Run("info", temp.Path, Path.Combine(temp.Path, "*.mrc"), temp.File("missing.mrc"));
        Assert.Equal(3, r.ExitCode);
        Assert.Equal(2, r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length); // a and b once each
        Assert.Equal($"deepem: error: {temp.File("missing.mrc")}: no such file or folder", r.ErrorLines.Single());
    }

    [Fact]
    public void Real_jpeg_micrograph_is_described()
    {
        var jpg = Path.Combine(TestPaths.BetaGal, "cryosegnet_finetune_dataset", "images", "Falcon_2012_06_12-14_33_35_0.jpg");
        var r = DeepemProcess.Run("info", jpg);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains(": 4096 x 4096, JPG, pixel size unset, min 0 max 254", r.Stdout);
    }
}
