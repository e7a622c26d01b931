using System.Runtime.InteropServices;
using BitMiracle.LibTiff.Classic;
using DeepEM.Imaging;
using StbImageSharp;

namespace DeepEM.Formats.Images;

/// <summary>
/// Greyscale micrographs stored as ordinary images: JPEG and PNG (8 or 16 bit) through StbImageSharp, TIFF
/// (8, 16 or 32 bit, integer or float) through LibTiff.NET. Row 0 of the result is the first row of the file.
/// Colour images are reduced to grey by the library's luminance weights.
/// </summary>
public static class RasterImageReader
{
    public static Image2D Read(string path)
    {
        var ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        return ext switch
        {
            ".tif" or ".tiff" => ReadTiff(path),
            ".png" or ".jpg" or ".jpeg" => ReadStb(path),
            _ => throw new BadInputException(path, $"'{ext}' is not an image format this reader knows (tif, tiff, png, jpg, jpeg)"),
        };
    }

    private static Image2D ReadStb(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BadInputException(path, e is FileNotFoundException ? "no such file" : e.Message);
        }
        if (bytes.Length == 0)
        {
            throw new BadInputException(path, "empty file (0 bytes)");
        }
        // Read the dimensions first, so a header claiming an absurd size is refused before decoding allocates it.
        ImageInfo? info;
        using (var probe = new MemoryStream(bytes, writable: false))
        {
            info = ImageInfo.FromStream(probe);
        }
        if (info is not { } i || i.Width <= 0 || i.Height <= 0)
        {
            throw new BadInputException(path, "not a readable JPEG or PNG image");
        }
        if (i.Width > Mrc.MrcHeader.MaxSectionDimension || i.Height > Mrc.MrcHeader.MaxSectionDimension)
        {
            throw new BadInputException(path, $"absurd image size {i.Width} x {i.Height}");
        }
        try
        {
            return i.BitsPerChannel == 16 ? Decode16(bytes, path) : Decode8(bytes);
        }
        catch (Exception e) when (e is not BadInputException)
        {
            throw new BadInputException(path, $"damaged image: {e.Message}");
        }
    }

    private static Image2D Decode8(byte[] bytes)
    {
        var result = ImageResult.FromMemory(bytes, ColorComponents.Grey);
        var image = new Image2D(result.Width, result.Height);
        var src = result.Data;
        var dst = image.Data;
        for (var k = 0; k < dst.Length; k++)
        {
            dst[k] = src[k];
        }
        return image;
    }

    /// <summary>16-bit PNG: StbImageSharp's public API returns 8 bits, so call its 16-bit path directly.</summary>
    private static unsafe Image2D Decode16(byte[] bytes, string path)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        var context = new StbImage.stbi__context(stream);
        int w, h, comp;
        var data = StbImage.stbi__load_and_postprocess_16bit(context, &w, &h, &comp, 1);
        if (data == null)
        {
            throw new BadInputException(path, $"damaged 16-bit image: {StbImage.stbi__g_failure_reason}");
        }
        try
        {
            var image = new Image2D(w, h);
            var dst = image.Data;
            for (var k = 0; k < dst.Length; k++)
            {
                dst[k] = data[k];
            }
            return image;
        }
        finally
        {
            Marshal.FreeHGlobal((IntPtr)data);
        }
    }

    private static Image2D ReadTiff(string path)
    {
        if (!File.Exists(path))
        {
            throw new BadInputException(path, "no such file");
        }
        if (new FileInfo(path).Length == 0)
        {
            throw new BadInputException(path, "empty file (0 bytes)");
        }
        SilentTiffErrors.Install();
        using var tiff = Tiff.Open(path, "r") ?? throw new BadInputException(path, "not a readable TIFF file");
        int Field(TiffTag tag, int fallback) => tiff.GetField(tag) is { Length: > 0 } v ? v[0].ToInt() : fallback;
        var width = Field(TiffTag.IMAGEWIDTH, 0);
        var height = Field(TiffTag.IMAGELENGTH, 0);
        var bits = Field(TiffTag.BITSPERSAMPLE, 1);
        var samples = Field(TiffTag.SAMPLESPERPIXEL, 1);
        var format = (SampleFormat)Field(TiffTag.SAMPLEFORMAT, (int)SampleFormat.UINT);
        var photometric = (Photometric)Field(TiffTag.PHOTOMETRIC, (int)Photometric.MINISBLACK);
        if (width <= 0 || height <= 0 || width > Mrc.MrcHeader.MaxSectionDimension || height > Mrc.MrcHeader.MaxSectionDimension)
        {
            throw new BadInputException(path, $"absurd TIFF size {width} x {height}");
        }
        if (samples != 1)
        {
            throw new BadInputException(path, $"TIFF has {samples} samples per pixel; micrographs are single-channel grey");
        }
        if (tiff.IsTiled())
        {
            throw new BadInputException(path, "tiled TIFF is not supported; save the micrograph with strips");
        }
        if (tiff.NumberOfDirectories() > 1)
        {
            throw new BadInputException(path, $"TIFF holds {tiff.NumberOfDirectories()} pages (a movie?); a micrograph is one motion-corrected image");
        }
        Func<byte[], int, float> sample = (bits, format) switch
        {
            (8, SampleFormat.INT) => (b, x) => (sbyte)b[x],
            (8, _) => (b, x) => b[x],
            (16, SampleFormat.INT) => (b, x) => BitConverter.ToInt16(b, 2 * x),
            (16, _) => (b, x) => BitConverter.ToUInt16(b, 2 * x),
            (32, SampleFormat.IEEEFP) => (b, x) => BitConverter.ToSingle(b, 4 * x),
            (32, SampleFormat.INT) => (b, x) => BitConverter.ToInt32(b, 4 * x),
            (32, _) => (b, x) => BitConverter.ToUInt32(b, 4 * x),
            _ => throw new BadInputException(path, $"TIFF with {bits}-bit {format} samples is not supported (8, 16 or 32 bit grey)"),
        };
        var image = new Image2D(width, height);
        var line = new byte[tiff.ScanlineSize()];
        var invert = photometric == Photometric.MINISWHITE;
        var maxValue = bits == 32 ? 0f : (float)((1L << bits) - 1);
        for (var y = 0; y < height; y++)
        {
            if (!tiff.ReadScanline(line, y))
            {
                throw new BadInputException(path, $"truncated or damaged TIFF (row {y} of {height} unreadable)");
            }
            var row = image.Row(y);
            for (var x = 0; x < width; x++)
            {
                var v = sample(line, x);
                row[x] = invert ? maxValue - v : v;
            }
        }
        return image;
    }

    /// <summary>LibTiff prints to the console by default; errors here become exceptions with the file's name instead.</summary>
    private sealed class SilentTiffErrors : TiffErrorHandler
    {
        private static int _installed;

        public static void Install()
        {
            if (Interlocked.Exchange(ref _installed, 1) == 0)
            {
                Tiff.SetErrorHandler(new SilentTiffErrors());
            }
        }

        public override void ErrorHandler(Tiff tif, string method, string format, params object[] args)
        {
        }

        public override void ErrorHandlerExt(Tiff tif, object clientData, string method, string format, params object[] args)
        {
        }

        public override void WarningHandler(Tiff tif, string method, string format, params object[] args)
        {
        }

        public override void WarningHandlerExt(Tiff tif, object clientData, string method, string format, params object[] args)
        {
        }
    }
}
