using System.Buffers.Binary;
using DeepEM.Formats.Mrc;
using DeepEM.Imaging;
using DeepEM.Imaging.Randomness;
using DeepEM.TestSupport;

namespace DeepEM.Formats.Tests.Mrc;

public class MrcRoundTripTests
{
    private static Image2D RandomImage(int w, int h, double min, double max, bool integers, ulong seed)
    {
        var rng = new DeterministicRandom(seed);
        var image = new Image2D(w, h);
        for (var i = 0; i < image.Data.Length; i++)
        {
            var v = rng.NextDouble(min, max);
            image.Data[i] = (float)(integers ? Math.Round(v) : v);
        }
        return image;
    }

    [Theory]
    [InlineData(MrcMode.Int8, -128, 127, true)]
    [InlineData(MrcMode.Int16, -30000, 30000, true)]
    [InlineData(MrcMode.UInt16, 0, 65535, true)]
    [InlineData(MrcMode.Float32, -1e3, 1e3, false)]
    [InlineData(MrcMode.Float16, -2048, 2048, true)] // integers up to 2048 are exact in float16
    public void Every_mode_round_trips_exactly(MrcMode mode, double min, double max, bool integers)
    {
        using var temp = TestPaths.NewTemp();
        var image = RandomImage(37, 23, min, max, integers, 42);
        var path = temp.File("a.mrc");
        MrcWriter.Write(path, image, mode, pixelSizeAngstrom: 1.77);

        using var mrc = MrcFile.Open(path);
        Assert.Equal(mode, mrc.Header.Mode);
        Assert.Equal((37, 23, 1), (mrc.Header.Nx, mrc.Header.Ny, mrc.Header.Nz));
        Assert.Equal(1.77, mrc.Header.PixelSizeAngstrom!.Value, 5);
        var back = mrc.ReadSection(0);
        Assert.Equal(image.Data, back.Data);
        Assert.Equal(1024 + 37 * 23 * MrcModes.BytesPerVoxel(mode), new FileInfo(path).Length);
    }

    [Theory]
    [InlineData(MrcMode.Float32)] // read into the rows themselves
    [InlineData(MrcMode.Int16)]   // read raw and decoded
    public void A_section_larger_than_one_read_round_trips_exactly(MrcMode mode)
    {
        // 700 × 800 pixels are 2.2 MB in float32 and 1.1 MB in int16: the reader takes them in about a megabyte at a time,
        // so rows come from several reads, the last one short.
        using var temp = TestPaths.NewTemp();
        var image = RandomImage(700, 800, -3000, 3000, mode == MrcMode.Int16, 5);
        var path = temp.File("big.mrc");
        MrcWriter.Write(path, image, mode);
        using var mrc = MrcFile.Open(path);
        var back = mrc.ReadSection(0);
        Assert.Equal(image.Data, back.Data);
    }

    [Theory]
    [InlineData(MrcMode.Float32, 4, 1030, 517)] // remainders at the right and bottom edges are dropped
    [InlineData(MrcMode.Int16, 3, 301, 299)]
    [InlineData(MrcMode.Float32, 1, 64, 33)]
    public void Binning_while_reading_equals_binning_the_whole_image_to_the_bit(MrcMode mode, int factor, int w, int h)
    {
        using var temp = TestPaths.NewTemp();
        var image = RandomImage(w, h, -500, 900, mode == MrcMode.Int16, 7);
        var path = temp.File("m.mrc");
        MrcWriter.Write(path, image, mode, pixelSizeAngstrom: 1.06);

        var whole = MicrographReader.ReadChecked(path);
        var expected = factor == 1 ? whole.Image : Imaging.Preprocessing.Binning.BlockMean(whole.Image, factor);
        var binned = MicrographReader.ReadBinnedChecked(path, factor);
        Assert.Equal((w / factor, h / factor), (binned.Image.Width, binned.Image.Height));
        Assert.Equal(expected.Data, binned.Image.Data);
        Assert.Equal((w, h, factor, "m"), (binned.OriginalWidth, binned.OriginalHeight, binned.Binning, binned.Name));
        Assert.Equal(1.06, binned.PixelSizeAngstrom!.Value, 5);
        Assert.Contains(binned.Image.Data, v => v != 0);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public void Non_finite_pixels_are_counted_wherever_they_are(int factor)
    {
        // Eight at a time and one at a time: first lane, last lane of a vector, and the scalar tail of a 37 px row.
        using var temp = TestPaths.NewTemp();
        var image = RandomImage(37, 23, -5, 5, false, 3);
        (int x, int y, float v)[] bad = [(0, 0, float.NaN), (7, 2, float.PositiveInfinity), (36, 5, float.NegativeInfinity), (33, 22, float.NaN)];
        foreach (var (x, y, v) in bad) image.Data[y * 37 + x] = v;
        var path = temp.File("bad.mrc");
        MrcWriter.Write(path, image, MrcMode.Float32);
        var e = Assert.Throws<BadInputException>(() => MicrographReader.ReadBinnedChecked(path, factor));
        Assert.Contains($"{bad.Length} of {37 * 23} pixels are NaN or infinite", e.Message);
        Assert.Contains("bad.mrc", e.Message);
    }

    [Fact]
    public void Integer_modes_round_and_saturate()
    {
        using var temp = TestPaths.NewTemp();
        var image = new Image2D(4, 1, [-300.6f, 1.4f, 1.6f, 70000f]);
        MrcWriter.Write(temp.File("s.mrc"), image, MrcMode.Int16);
        using var mrc = MrcFile.Open(temp.File("s.mrc"));
        Assert.Equal([-301f, 1f, 2f, 32767f], mrc.ReadSection(0).Data);
    }

    [Fact]
    public void Stack_reads_section_by_section()
    {
        using var temp = TestPaths.NewTemp();
        var images = Enumerable.Range(0, 3).Select(i => RandomImage(16, 16, -1, 1, false, (ulong)i + 1)).ToList();
        var path = temp.File("particles.mrcs");
        MrcWriter.WriteStack(path, images, MrcMode.Float32, 2.5);
        using var mrc = MrcFile.Open(path);
        Assert.True(mrc.Header.IsImageStack);
        Assert.Equal(3, mrc.SectionCount);
        for (var z = 0; z < 3; z++)
        {
            Assert.Equal(images[z].Data, mrc.ReadSection(z).Data);
        }
    }

    [Fact]
    public void Header_follows_the_2014_standard_byte_for_byte()
    {
        using var temp = TestPaths.NewTemp();
        var image = new Image2D(3, 2, [1f, 2f, 3f, 4f, 5f, 9f]);
        var path = temp.File("h.mrc");
        MrcWriter.Write(path, image, MrcMode.Float32, 1.5);
        var h = File.ReadAllBytes(path)[..1024];
        int I(int o) => BinaryPrimitives.ReadInt32LittleEndian(h.AsSpan(o));
        float F(int o) => BinaryPrimitives.ReadSingleLittleEndian(h.AsSpan(o));
        Assert.Equal((3, 2, 1, 2), (I(0), I(4), I(8), I(12)));          // NX NY NZ MODE
        Assert.Equal((0, 0, 0), (I(16), I(20), I(24)));                 // NXSTART NYSTART NZSTART
        Assert.Equal((3, 2, 1), (I(28), I(32), I(36)));                 // MX MY MZ
        Assert.Equal((4.5f, 3f, 1.5f), (F(40), F(44), F(48)));          // CELLA in Å
        Assert.Equal((90f, 90f, 90f), (F(52), F(56), F(60)));           // CELLB
        Assert.Equal((1, 2, 3), (I(64), I(68), I(72)));                 // MAPC MAPR MAPS
        Assert.Equal((1f, 9f, 4f), (F(76), F(80), F(84)));              // DMIN DMAX DMEAN
        Assert.Equal(0, I(88));                                         // ISPG: image
        Assert.Equal(0, I(92));                                         // NSYMBT
        Assert.Equal(20140, I(108));                                    // NVERSION
        Assert.Equal("MAP ", System.Text.Encoding.ASCII.GetString(h, 208, 4));
        Assert.Equal(new byte[] { 0x44, 0x44, 0, 0 }, h[212..216]); // MACHST little-endian
        var rms = Math.Sqrt(new[] { 1, 2, 3, 4, 5, 9 }.Select(v => (v - 4.0) * (v - 4.0)).Average());
        Assert.Equal(rms, F(216), 5);                                   // RMS
        Assert.Equal(1, I(220));                                        // NLABL
        Assert.StartsWith(MrcWriter.Label, System.Text.Encoding.ASCII.GetString(h, 224, 80));
    }

    [Fact]
    public void Extended_header_is_skipped()
    {
        using var temp = TestPaths.NewTemp();
        var image = RandomImage(8, 8, -5, 5, false, 3);
        var plain = temp.File("plain.mrc");
        MrcWriter.Write(plain, image);
        var bytes = File.ReadAllBytes(plain);
        // Insert a 2048-byte FEI-style extended header full of 0xFF, and say so in NSYMBT and EXTTYP.
        var withExt = new byte[bytes.Length + 2048];
        bytes.AsSpan(0, 1024).CopyTo(withExt);
        withExt.AsSpan(1024, 2048).Fill(0xFF);
        bytes.AsSpan(1024).CopyTo(withExt.AsSpan(1024 + 2048));
        BinaryPrimitives.WriteInt32LittleEndian(withExt.AsSpan(92), 2048);
        "FEI1"u8.CopyTo(withExt.AsSpan(104));
        File.WriteAllBytes(temp.File("ext.mrc"), withExt);

        using var mrc = MrcFile.Open(temp.File("ext.mrc"));
        Assert.Equal(2048, mrc.Header.ExtendedHeaderBytes);
        Assert.Equal("FEI1", mrc.Header.ExtendedType);
        Assert.Equal(image.Data, mrc.ReadSection(0).Data);
    }

    [Fact]
    public void Big_endian_files_are_read()
    {
        using var temp = TestPaths.NewTemp();
        var header = new byte[1024];
        void I(int o, int v) => BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(o), v);
        I(0, 2); I(4, 2); I(8, 1); I(12, 1); I(28, 2); I(32, 2); I(36, 1);
        BinaryPrimitives.WriteSingleBigEndian(header.AsSpan(40), 6f);
        I(64, 1); I(68, 2); I(72, 3);
        "MAP "u8.CopyTo(header.AsSpan(208));
        header[212] = 0x11; header[213] = 0x11;
        var data = new byte[8];
        short[] values = [-2, 300, 7, -32768];
        for (var i = 0; i < 4; i++) BinaryPrimitives.WriteInt16BigEndian(data.AsSpan(2 * i), values[i]);
        File.WriteAllBytes(temp.File("be.mrc"), [.. header, .. data]);

        using var mrc = MrcFile.Open(temp.File("be.mrc"));
        Assert.True(mrc.Header.BigEndian);
        Assert.Equal(3.0, mrc.Header.PixelSizeAngstrom);
        Assert.Equal(values.Select(v => (float)v), mrc.ReadSection(0).Data);
    }
}
