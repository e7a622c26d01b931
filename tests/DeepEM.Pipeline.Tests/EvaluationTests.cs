using DeepEM.Formats.Coordinates;
using DeepEM.Pipeline.Evaluation;
using DeepEM.Pipeline.Picking;

namespace DeepEM.Pipeline.Tests;

public class EvaluationTests
{
    /// <summary>
    /// A case where greedy nearest-first matching loses a particle: P1 lies between T1 and T2 (nearer T2), P2
    /// only near T2. Greedy gives P1→T2 and leaves P2 unmatched; the maximum matching is P1→T1, P2→T2.
    /// P3 is a false positive and T3 is missed.
    /// </summary>
    private static (Dictionary<string, List<Pick>> picks, Dictionary<string, List<Pick>> truth) HandMade() => (
        new() { ["m"] = [new(6, 0, 0.9), new(14, 0, 0.8), new(100, 100, 0.5)] },
        new() { ["m"] = [new(0, 0), new(10, 0), new(50, 50)] });

    [Fact]
    public void Optimal_matching_beats_greedy_and_gives_exact_scores()
    {
        var (picks, truth) = HandMade();
        var report = PickEvaluation.Evaluate(picks, truth, radius: 7);
        var all = report.AllPicks;
        Assert.Equal((3, 2, 1, 1), (all.Picks, all.TruePositives, all.FalsePositives, all.FalseNegatives));
        Assert.Equal(2.0 / 3, all.Precision, 12);
        Assert.Equal(2.0 / 3, all.Recall, 12);
        Assert.Equal(2.0 / 3, all.F1, 12);
        Assert.Equal(3, report.Curve.Count);
        Assert.Equal((0.9, 1, 1), (report.Curve[0].Threshold, report.Curve[0].Picks, report.Curve[0].TruePositives));
        Assert.Equal((0.8, 2, 2), (report.Curve[1].Threshold, report.Curve[1].Picks, report.Curve[1].TruePositives));
        // F2 at 0.8: P = 1, R = 2/3 → 5·(2/3)/(4 + 2/3) = 10/14.
        Assert.Equal(0.8, report.BestF2.Threshold, 12);
        Assert.Equal(10.0 / 14, report.BestF2.F2, 12);
        // Area under the step-wise curve: recall 1/3 at precision 1, 2/3 at 1, 2/3 at 2/3.
        Assert.Equal(2.0 / 3, report.AreaUnderPrCurve, 12);
    }

    [Fact]
    public void Matching_is_one_to_one_and_pooled_over_micrographs()
    {
        // Two picks on one particle: only one is a true positive. A second micrograph with a missed particle.
        var picks = new Dictionary<string, List<Pick>> { ["a"] = [new(10, 10, 0.9), new(12, 10, 0.7)], ["b"] = [] };
        var truth = new Dictionary<string, List<Pick>> { ["a"] = [new(11, 10)], ["b"] = [new(5, 5)], };
        var report = PickEvaluation.Evaluate(picks, truth, 5);
        Assert.Equal((2, 1, 1, 1), (report.AllPicks.Picks, report.AllPicks.TruePositives, report.AllPicks.FalsePositives, report.AllPicks.FalseNegatives));
        Assert.Equal(0.5, report.AllPicks.Precision, 12);
        Assert.Equal(0.5, report.AllPicks.Recall, 12);
        Assert.Equal(1.0, report.PerMicrograph.Single(m => m.Name == "a").AllPicks.Recall, 12);
        Assert.Equal(0.0, report.PerMicrograph.Single(m => m.Name == "b").AllPicks.Recall, 12);
    }

    [Fact]
    public void Peaks_are_local_maxima_above_threshold_suppressed_by_distance()
    {
        const int w = 12, h = 8;
        var grid = new float[w * h];
        grid[2 * w + 2] = 0.9f;  // peak
        grid[2 * w + 3] = 0.8f;  // its neighbour, not a local maximum
        grid[2 * w + 6] = 0.85f; // a second peak 4 away: suppressed at distance 5
        grid[6 * w + 10] = 0.7f; // far away
        grid[6 * w + 1] = 0.3f;  // below threshold
        var peaks = PeakFinder.Find(grid, w, h, 0.5f, 5);
        Assert.Equal([new Peak(2, 2, 0.9f), new Peak(10, 6, 0.7f)], peaks);
        Assert.Equal(3, PeakFinder.Find(grid, w, h, 0.5f, 3).Count);
    }

    [Fact]
    public void Names_that_would_leave_the_output_folder_are_refused()
    {
        // Names may be relative paths inside the folder (a RELION layout), never anything that leads out of it or hides.
        foreach (var bad in new[] { "../evil", "..", "", "/etc/passwd", "a//b", "a/../b", "a/./b", "a\\b", ".deepem/journal", "Micrographs/" })
        {
            Assert.Throws<ArgumentException>(() => PickOutputs.CheckName(bad));
        }
        PickOutputs.CheckName("Falcon_2012_06_12-14_33_35_0");
        PickOutputs.CheckName("MotionCorr/job002/Movies/Falcon_2012_06_12-14_33_35_0");
    }
}
