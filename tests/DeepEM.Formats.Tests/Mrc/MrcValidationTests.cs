using System.Buffers.Binary;
using DeepEM.Formats.Mrc;
using DeepEM.TestSupport;

namespace DeepEM.Formats.Tests.Mrc;

/// <summary>Bad files are refused with the file's name and the problem, before anything the header claims is allocated.</summary>
public class MrcValidationTests
{
    private static byte[] Header(int nx, int ny, int nz, int mode, int nsymbt = 0, bool stamp = true)
    {
        var h = new byte[1024];
        void I(int o, int v) => BinaryPrimitives.WriteInt32LittleEndian(h.AsSpan(o), v);
        I(0, nx); I(4, ny); I(8, nz); I(12, mode); I(28, nx); I(32, ny); I(36, 1);
        I(64, 1); I(68, 2); I(72, 3); I(92, nsymbt);
        if (stamp)
        {
            "MAP "u8.CopyTo(h.AsSpan(208));
            h[212] = 0x44; h[213] = 0x44;
        }
        return h;
    }

    private static BadInputException Refused(byte[] content, string name = "bad.mrc")
    {
        using var temp = TestPaths.NewTemp();
        var path = temp.File(name);
        File.WriteAllBytes(path, content);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<BadInputException>(() => MrcFile.Open(path).Dispose());
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 1 << 20, $"refusing {name} allocated {allocated} bytes");
        Assert.Equal(path, e.Path);
        Assert.StartsWith(path + ": ", e.Message);
        return e;
    }

    [Fact]
    public void Empty_file() => Assert.Contains("empty file", Refused([]).Problem);

    [Fact]
    public void Shorter_than_a_header() => Assert.Contains("too short", Refused(new byte[500]).Problem);

    [Fact]
    public void Text_renamed_to_mrc()
    {
        var text = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("This is not a micrograph, just some notes.\n", 40)));
        Assert.Contains("not an MRC file", Refused(text).Problem);
    }

    [Fact]
    public void Unknown_mode() => Assert.Contains("unsupported MRC mode 5", Refused([.. Header(4, 4, 1, 5), .. new byte[64]]).Problem);

    [Theory]
    [InlineData(0, 4, 1)]
    [InlineData(-5, 4, 1)]
    [InlineData(4, 1 << 30, 1)]
    [InlineData(4, 4, -1)]
    public void Absurd_dimensions(int nx, int ny, int nz) =>
        Assert.Contains("absurd dimensions", Refused([.. Header(nx, ny, nz, 2), .. new byte[64]]).Problem);

    [Fact]
    public void Truncated_data_is_refused_without_allocating_what_the_header_claims()
    {
        // The header claims 40000 x 40000 float32 (6.4 GB); the file holds 1000 bytes of data.
        var e = Refused([.. Header(40_000, 40_000, 1, 2), .. new byte[1000]]);
        Assert.Contains("truncated", e.Problem);
        Assert.Contains("6400000000 bytes", e.Problem);
    }

    [Fact]
    public void Truncated_micrograph() =>
        Assert.Contains("truncated", Refused([.. Header(4096, 4096, 1, 2), .. new byte[4096 * 100]]).Problem);

    [Fact]
    public void Extended_header_past_the_end() =>
        Assert.Contains("NSYMBT", Refused([.. Header(2, 2, 1, 2, nsymbt: 1 << 20), .. new byte[16]]).Problem);

    [Fact]
    public void Micrograph_reader_refuses_a_stack_as_a_micrograph()
    {
        using var temp = TestPaths.NewTemp();
        var path = temp.File("stack.mrc");
        File.WriteAllBytes(path, [.. Header(2, 2, 3, 2), .. new byte[48]]);
        var e = Assert.Throws<BadInputException>(() => MicrographReader.Read(path));
        Assert.Contains("3 sections", e.Problem);
        Assert.Contains("3 sections", Assert.Throws<BadInputException>(() => MicrographReader.ReadBinnedChecked(path, 2)).Problem);
    }

    [Fact]
    public void NaN_pixels_are_rejected_with_their_count()
    {
        using var temp = TestPaths.NewTemp();
        var image = new Imaging.Image2D(4, 4);
        image.Data.AsSpan().Fill(1f);
        image.Data[3] = float.NaN;
        image.Data[7] = float.PositiveInfinity;
        var path = temp.File("nan.mrc");
        MrcWriter.Write(path, image);
        var e = Assert.Throws<BadInputException>(() => MicrographReader.ReadChecked(path));
        Assert.Contains("2 of 16 pixels are NaN or infinite", e.Problem);
        // Binned as it is read, the same micrograph is refused the same way.
        var binned = Assert.Throws<BadInputException>(() => MicrographReader.ReadBinnedChecked(path, 2));
        Assert.Equal(path, binned.Path);
        Assert.Contains("2 of 16 pixels are NaN or infinite", binned.Problem);
    }
}
