using System.Runtime.CompilerServices;

namespace DeepEM.Imaging;

/// <summary>Summary statistics of pixel values, accumulated in float64 so that a 4096² image keeps full precision.</summary>
public readonly record struct ImageStatistics(double Min, double Max, double Mean, double StdDev, long NonFinite)
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static ImageStatistics Of(ReadOnlySpan<float> values)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        double sum = 0, sumSq = 0;
        long finite = 0, nonFinite = 0;
        foreach (var f in values)
        {
            if (!float.IsFinite(f))
            {
                nonFinite++;
                continue;
            }
            double v = f;
            if (v < min) min = v;
            if (v > max) max = v;
            sum += v;
            sumSq += v * v;
            finite++;
        }
        if (finite == 0)
        {
            return new ImageStatistics(double.NaN, double.NaN, double.NaN, double.NaN, nonFinite);
        }
        var mean = sum / finite;
        var variance = Math.Max(0, sumSq / finite - mean * mean);
        return new ImageStatistics(min, max, mean, Math.Sqrt(variance), nonFinite);
    }

    public static ImageStatistics Of(Image2D image) => Of(image.Data);

    /// <summary>
    /// A box's pixel standard deviation, the statistic of the paper's filter: training records the particles' range of
    /// it in the model and picking keeps the boxes inside that range, so both use this one function. (Squares are taken
    /// in float32 and summed in float64, as the models' recorded ranges were computed.)
    /// </summary>
    public static float BoxStdDev(ReadOnlySpan<float> box)
    {
        double s = 0, s2 = 0;
        foreach (var v in box)
        {
            s += v;
            s2 += v * v;
        }
        var mean = s / box.Length;
        return (float)Math.Sqrt(Math.Max(0, s2 / box.Length - mean * mean));
    }
}
