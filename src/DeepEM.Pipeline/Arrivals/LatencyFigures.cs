using MathNet.Numerics.Statistics;

namespace DeepEM.Pipeline.Arrivals;

/// <summary>The figures a user of <c>pick --watch</c> reads of its latencies: median, 95th percentile, largest.</summary>
public static class LatencyFigures
{
    /// <summary>
    /// Nearest rank (the inverse of the empirical distribution, MathNet's R1): each figure is one of the latencies
    /// measured, the smallest with at least that share of them at or below it. Zeros when there are none.
    /// </summary>
    public static (double Median, double P95, double Max) Of(IEnumerable<double> latencies)
    {
        var sorted = latencies.ToArray();
        if (sorted.Length == 0) return (0, 0, 0);
        Array.Sort(sorted);
        return (SortedArrayStatistics.QuantileCustom(sorted, 0.5, QuantileDefinition.R1),
            SortedArrayStatistics.QuantileCustom(sorted, 0.95, QuantileDefinition.R1), sorted[^1]);
    }
}
