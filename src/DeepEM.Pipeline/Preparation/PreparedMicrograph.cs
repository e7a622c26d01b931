using DeepEM.Formats;
using DeepEM.Imaging;
using DeepEM.Imaging.Preprocessing;

namespace DeepEM.Pipeline.Preparation;

/// <summary>
/// A micrograph as the network sees it: binned by block mean, then normalised to zero mean and unit
/// variance. Coordinates convert between its pixels and those of the file with <see cref="ToBinned"/> and
/// <see cref="ToOriginal"/>, so binning never shows in any coordinate written out.
/// </summary>
public sealed record PreparedMicrograph(string Name, string Path, Image2D Image, int Binning, int OriginalWidth, int OriginalHeight, double? PixelSizeAngstrom)
{
    public double ToBinned(double original) => Imaging.Preprocessing.Binning.ToBinned(original, Binning);

    public double ToOriginal(double binned) => Imaging.Preprocessing.Binning.ToOriginal(binned, Binning);

    /// <summary>Reads, checks, bins and normalises; a bad file raises <see cref="BadInputException"/> naming it.</summary>
    public static PreparedMicrograph Load(string path, int binning)
    {
        var micrograph = MicrographReader.ReadBinnedChecked(path, binning);
        var image = micrograph.Image;
        var stats = Normalization.ZeroMeanUnitVariance(image);
        if (stats.StdDev == 0)
        {
            throw new BadInputException(path, "every pixel has the same value: there is nothing to pick");
        }
        return new PreparedMicrograph(micrograph.Name, path, image, binning, micrograph.OriginalWidth, micrograph.OriginalHeight, micrograph.PixelSizeAngstrom);
    }

    /// <summary>Copies the box with top-left pixel (x0, y0) into <paramref name="destination"/>.</summary>
    public void CopyBox(int x0, int y0, int size, Span<float> destination)
    {
        for (var y = 0; y < size; y++)
        {
            Image.Data.AsSpan((y0 + y) * Image.Width + x0, size).CopyTo(destination.Slice(y * size, size));
        }
    }
}
