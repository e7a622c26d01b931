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
}
