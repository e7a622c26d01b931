using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
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
        if (IsMrc(path))
        {
            using var mrc = OpenOneSection(path);
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
    /// Reads, checks that every pixel is finite (as <see cref="ReadChecked"/>) and bins by block mean
    /// (<see cref="Imaging.Preprocessing.Binning.BlockMean"/>, the same result to the bit). An MRC file is binned row by
    /// row as it is read, so the micrograph is never in memory at full size: a 4096² float32 one would be 64 MB a time.
    /// </summary>
    public static BinnedMicrograph ReadBinnedChecked(string path, int factor)
    {
        if (!IsMrc(path))
        {
            var whole = ReadChecked(path);
            return new BinnedMicrograph(whole.Name, path, factor == 1 ? whole.Image : Imaging.Preprocessing.Binning.BlockMean(whole.Image, factor), factor,
                whole.Image.Width, whole.Image.Height, whole.PixelSizeAngstrom, whole.FormatDescription);
        }
        using var mrc = OpenOneSection(path);
        var binner = new Imaging.Preprocessing.Binning.RowBinner(mrc.Header.Nx, mrc.Header.Ny, factor);
        long nonFinite = 0;
        mrc.ReadSectionRows(0, (y, row) =>
        {
            nonFinite += CountNonFinite(row);
            binner.Add(y, row);
        });
        if (nonFinite > 0) throw NonFinite(path, nonFinite, (long)mrc.Header.Nx * mrc.Header.Ny);
        return new BinnedMicrograph(NameOf(path), path, binner.Result, factor, mrc.Header.Nx, mrc.Header.Ny, mrc.Header.PixelSizeAngstrom,
            MrcModes.Describe(mrc.Header.Mode));
    }

    /// <summary>Pixels that are NaN or infinite: those whose exponent bits are all set, eight at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int CountNonFinite(ReadOnlySpan<float> row)
    {
        var bits = MemoryMarshal.Cast<float, int>(row);
        var count = 0;
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var exponent = Vector256.Create(0x7F800000);
            var counts = Vector256<int>.Zero;
            ref var start = ref MemoryMarshal.GetReference(bits);
            for (; i + Vector256<int>.Count <= bits.Length; i += Vector256<int>.Count)
            {
                // A lane that compares equal is all ones, −1: subtracting it counts the lane.
                counts -= Vector256.Equals(Vector256.LoadUnsafe(ref start, (nuint)i) & exponent, exponent);
            }
            count = Vector256.Sum(counts);
        }
        for (; i < row.Length; i++)
        {
            if (!float.IsFinite(row[i])) count++;
        }
        return count;
    }

    /// <summary>
    /// Reads and checks that every pixel is finite. NaN or infinity is rejected with the file's name
    /// (see <see cref="Imaging.Preprocessing.NonFinitePixelsException"/> for why not repaired).
    /// </summary>
    public static Micrograph ReadChecked(string path)
    {
        var micrograph = Read(path);
        var stats = ImageStatistics.Of(micrograph.Image);
        if (stats.NonFinite > 0) throw NonFinite(path, stats.NonFinite, micrograph.Image.Data.LongLength);
        return micrograph;
    }

    private static bool IsMrc(string path) => System.IO.Path.GetExtension(path).ToLowerInvariant() is ".mrc" or ".mrcs";

    /// <summary>An MRC file that holds one image: a stack is not a micrograph.</summary>
    private static MrcFile OpenOneSection(string path)
    {
        var mrc = MrcFile.Open(path);
        if (mrc.Header.Nz > 1)
        {
            mrc.Dispose();
            throw new BadInputException(path, $"holds {mrc.Header.Nz} sections; a micrograph is one image (use a particle-stack reader for .mrcs)");
        }
        return mrc;
    }

    private static BadInputException NonFinite(string path, long count, long pixels) =>
        new(path, $"{count} of {pixels} pixels are NaN or infinite (rejected: the micrograph is damaged)");
}
