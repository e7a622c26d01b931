using BitMiracle.LibTiff.Classic;
using DeepEM.Formats.Coordinates;
using DeepEM.TestSupport;

namespace DeepEM.Formats.Tests.Images;

public class RasterImageTests
{
    // A pattern whose value tells row from column and top from bottom, within 8 bits: v = 2x + 4y + 10.
    private const int W = 40, H = 30;

    private static double Pattern(int x, int y) => 2 * x + 4 * y + 10;

    [Fact]
    public void Png_8_bit_keeps_values_and_row_order()
    {
        using var temp = TestPaths.NewTemp();
        var pixels = new byte[W * H];
        for (var y = 0; y < H; y++) for (var x = 0; x < W; x++) pixels[y * W + x] = (byte)Pattern(x, y);
        var path = temp.File("a.png");
        TestImageFiles.WritePng8(path, pixels, W, H);
        var m = MicrographReader.Read(path);
        Assert.Equal((W, H), (m.Image.Width, m.Image.Height));
        Assert.Equal(pixels.Select(b => (float)b), m.Image.Data);
        Assert.Equal("a", m.Name);
    }

    [Fact]
    public void Png_16_bit_keeps_full_range()
    {
        using var temp = TestPaths.NewTemp();
        var pixels = new ushort[W * H];
        for (var y = 0; y < H; y++) for (var x = 0; x < W; x++) pixels[y * W + x] = (ushort)(Pattern(x, y) * 300);
        pixels[5] = 65535;
        var path = temp.File("b.png");
        TestImageFiles.WritePng16(path, pixels, W, H);
        var m = MicrographReader.Read(path);
        Assert.Equal(pixels.Select(v => (float)v), m.Image.Data);
    }

    [Fact]
    public void Jpeg_8_bit_is_close_and_upright()
    {
        using var temp = TestPaths.NewTemp();
        var pixels = new byte[W * H];
        for (var y = 0; y < H; y++) for (var x = 0; x < W; x++) pixels[y * W + x] = (byte)Pattern(x, y);
        var path = temp.File("c.jpg");
        TestImageFiles.WriteJpeg(path, pixels, W, H);
        var m = MicrographReader.Read(path);
        var worst = pixels.Select((b, i) => Math.Abs(b - m.Image.Data[i])).Max();
        Assert.True(worst <= 6, $"JPEG error {worst} grey levels");
        Assert.True(m.Image[0, H - 1] > m.Image[0, 0] + 90, "row 0 must be the first row of the file");
    }

    [Theory]
    [InlineData(8, SampleFormat.UINT)]
    [InlineData(16, SampleFormat.UINT)]
    [InlineData(32, SampleFormat.IEEEFP)]
    public void Tiff_grey_round_trips(int bits, SampleFormat format)
    {
        using var temp = TestPaths.NewTemp();
        var scale = bits == 16 ? 250.0 : bits == 32 ? -0.37 : 1.0;
        var path = temp.File($"t{bits}.tif");
        TestImageFiles.WriteTiff(path, W, H, bits, format, (x, y) => Pattern(x, y) * scale);
        var m = MicrographReader.Read(path);
        for (var y = 0; y < H; y++)
        {
            for (var x = 0; x < W; x++)
            {
                Assert.Equal((float)(Pattern(x, y) * scale), m.Image[x, y], 3);
            }
        }
    }

    [Theory]
    [InlineData("empty.png", new byte[0], "empty file")]
    [InlineData("text.jpg", new byte[] { 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x77, 0x6f, 0x72, 0x6c, 0x64 }, "not a readable")]
    [InlineData("text.tif", new byte[] { 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x77, 0x6f, 0x72, 0x6c, 0x64 }, "not a readable TIFF")]
    public void Damaged_images_get_one_clear_error(string name, byte[] content, string expected)
    {
        using var temp = TestPaths.NewTemp();
        var path = temp.File(name);
        File.WriteAllBytes(path, content);
        var e = Assert.Throws<BadInputException>(() => MicrographReader.Read(path));
        Assert.Equal(path, e.Path);
        Assert.Contains(expected, e.Problem);
    }

    /// <summary>
    /// The real EMPIAR-10017 JPEGs: 4096² and 8-bit, and the CryoPPP centres, used as given (x column, y row),
    /// land on the dark particles: SOURCE.md measured a mean of 103.8 at the centres against 133.7 at random.
    /// </summary>
    [Fact]
    public void Real_jpeg_micrograph_is_upright_against_its_labels()
    {
        var dir = TestPaths.BetaGal;
        var name = "Falcon_2012_06_12-14_33_35_0";
        var m = MicrographReader.Read(Path.Combine(dir, "cryosegnet_finetune_dataset", "images", name + ".jpg"));
        Assert.Equal((4096, 4096), (m.Image.Width, m.Image.Height));
        var centres = CsvCoordinates.Read(Path.Combine(dir, "cryosegnet_finetune_dataset", "csv_files", name + ".csv"));
        double WindowMean(double cx, double cy)
        {
            double s = 0;
            var n = 0;
            for (var y = (int)cy - 20; y < (int)cy + 20; y++)
            for (var x = (int)cx - 20; x < (int)cx + 20; x++)
            {
                if (x < 0 || y < 0 || x >= 4096 || y >= 4096) continue;
                s += m.Image[x, y];
                n++;
            }
            return s / n;
        }
        var atCentres = centres.Average(p => WindowMean(p.X, p.Y));
        var rng = new Imaging.Randomness.DeterministicRandom(5);
        var atRandom = Enumerable.Range(0, 2000).Average(_ => WindowMean(rng.NextDouble(20, 4076), rng.NextDouble(20, 4076)));
        Assert.InRange(atCentres, 98, 110);
        Assert.InRange(atRandom, 125, 142);
        // Flipped, the labels would fall on background: the same check must fail.
        var flipped = centres.Average(p => WindowMean(p.X, 4095 - p.Y));
        Assert.True(flipped > atCentres + 15, $"flipped {flipped:0.0} vs upright {atCentres:0.0}");
    }
}
