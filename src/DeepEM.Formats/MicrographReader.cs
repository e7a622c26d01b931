using DeepEM.Formats.Images;
using DeepEM.Formats.Mrc;
using DeepEM.Imaging;

namespace DeepEM.Formats;

/// <summary>Reads a micrograph by its extension: MRC (first section), TIFF, JPEG or PNG.</summary>
public static class MicrographReader
{
    public static readonly string[] Extensions = [".mrc", ".mrcs", ".tif", ".tiff", ".png", ".jpg", ".jpeg"];

    public static bool IsMicrographFile(string path) =>
        Extensions.Contains(System.IO.Path.GetExtension(path).ToLowerInvariant());

    /// <summary>The name that coordinate files are matched by: the file name without its extension.</summary>
    public static string NameOf(string path) => System.IO.Path.GetFileNameWithoutExtension(path);

    public static Micrograph Read(string path)
    {
        var ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        if (ext is ".mrc" or ".mrcs")
        {
            using var mrc = MrcFile.Open(path);
            if (mrc.Header.Nz > 1)
            {
                throw new BadInputException(path, $"holds {mrc.Header.Nz} sections; a micrograph is one image (use a particle-stack reader for .mrcs)");
            }
            var image = mrc.ReadSection(0);
            return new Micrograph(NameOf(path), path, image, mrc.Header.PixelSizeAngstrom, MrcModes.Describe(mrc.Header.Mode));
        }
        if (!IsMicrographFile(path))
        {
            throw new BadInputException(path, $"unknown micrograph format '{ext}' (expected one of {string.Join(", ", Extensions)})");
        }
        var raster = RasterImageReader.Read(path);
        return new Micrograph(NameOf(path), path, raster, null, ext.TrimStart('.').ToUpperInvariant());
    }

    /// <summary>
    /// Reads and checks that every pixel is finite. NaN or infinity is rejected with the file's name
    /// (see <see cref="Imaging.Preprocessing.NonFinitePixelsException"/> for why not repaired).
    /// </summary>
    public static Micrograph ReadChecked(string path)
    {
        var micrograph = Read(path);
        var stats = ImageStatistics.Of(micrograph.Image);
        if (stats.NonFinite > 0)
        {
            throw new BadInputException(path, $"{stats.NonFinite} of {micrograph.Image.Data.LongLength} pixels are NaN or infinite (rejected: the micrograph is damaged)");
        }
        return micrograph;
    }
}
