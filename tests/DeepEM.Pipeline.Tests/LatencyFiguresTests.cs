using DeepEM.Pipeline.Arrivals;

namespace DeepEM.Pipeline.Tests;

public sealed class LatencyFiguresTests
{
    [Fact]
    public void Figures_are_nearest_ranks_of_the_latencies_measured()
    {
        Assert.Equal((0.0, 0.0, 0.0), LatencyFigures.Of([]));
        Assert.Equal((2.5, 2.5, 2.5), LatencyFigures.Of([2.5]));
        // Unsorted, as results come: the 2nd of 3 is the median; the 95th percentile and the largest are the 3rd.
        Assert.Equal((1.25, 7.0, 7.0), LatencyFigures.Of([7.0, 0.5, 1.25]));
        // 100 values 1..100 s: the 50th and the 95th.
        Assert.Equal((50.0, 95.0, 100.0), LatencyFigures.Of(Enumerable.Range(1, 100).Reverse().Select(i => (double)i)));
    }
}
