using System.Runtime.CompilerServices;

namespace DeepEM.Imaging.Preprocessing;

/// <summary>
/// Per-micrograph normalisation to zero mean and unit standard deviation. Training boxes and picking both
/// use it, on the binned micrograph, so that the network sees the same value scale in both.
/// </summary>
public static class Normalization
{
    /// <summary>Normalises in place and returns the statistics it removed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static ImageStatistics ZeroMeanUnitVariance(Image2D image)
    {
        var stats = ImageStatistics.Of(image);
        if (stats.NonFinite > 0)
        {
            throw new NonFinitePixelsException(stats.NonFinite, image.Data.LongLength);
        }
        // A constant image has no contrast to normalise; leave it centred rather than divide by zero.
        var scale = stats.StdDev > 0 ? (float)(1.0 / stats.StdDev) : 1f;
        var mean = (float)stats.Mean;
        var data = image.Data;
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = (data[i] - mean) * scale;
        }
        return stats;
    }
}
