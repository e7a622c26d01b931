using DeepEM.Numerics.Training;
using DeepEM.Pipeline.Evaluation;
using DeepEM.Pipeline.Training;

namespace DeepEM.Pipeline.Tests;

/// <summary>
/// Thresholds from a precision-recall curve, with every particle labelled and with a random tenth of them: a
/// population of scored particles and non-particles where the truth is known, so that the true F1-best threshold
/// can be computed and compared with what the calibration finds from the labels alone.
/// </summary>
public class ThresholdCalibrationTests
{
    /// <summary>
    /// 6,000 particles and 12,000 non-particles (the recipe's ten micrographs hold 6,365 particles) with logistic scores of normal logits (means 2 and −0.5, deviation 1.2:
    /// at 30% of the particles' recall precision is 0.97, against 0.88–0.91 on the real micrographs), each pick labelled
    /// with probability <paramref name="labelled"/> when it is a particle; the curve counts only labelled matches,
    /// as evaluating against sparse labels does. Returns the curve and the curve the whole truth gives.
    /// </summary>
    private static (List<Scores> labelledCurve, List<Scores> trueCurve, int labels) Population(double labelled, int seed)
    {
        var random = new Random(seed);
        var picks = new List<(double score, bool particle, bool label)>();
        for (var i = 0; i < 6000; i++)
        {
            picks.Add((Score(random, 2.0), true, random.NextDouble() < labelled));
        }
        for (var i = 0; i < 12000; i++) picks.Add((Score(random, -0.5), false, false));
        picks.Sort((a, b) => b.score.CompareTo(a.score));
        var labels = picks.Count(p => p.label);
        var particles = picks.Count(p => p.particle);
        List<Scores> labelledCurve = [], trueCurve = [];
        int n = 0, matched = 0, truePositives = 0;
        foreach (var p in picks)
        {
            n++;
            if (p.label) matched++;
            if (p.particle) truePositives++;
            labelledCurve.Add(new Scores(p.score, n, matched, n - matched, labels - matched));
            trueCurve.Add(new Scores(p.score, n, truePositives, n - truePositives, particles - truePositives));
        }
        return (labelledCurve, trueCurve, labels);
    }

    private static double Score(Random random, double mean)
    {
        var normal = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        return 1 / (1 + Math.Exp(-(mean + 1.2 * normal)));
    }

    [Fact]
    public void Complete_labels_give_the_curves_own_F1_and_F2_best_thresholds()
    {
        var (curve, _, _) = Population(labelled: 1.0, seed: 1);
        var c = ThresholdCalibration.FromCurve(curve);
        Assert.False(c.SparseLabels);
        Assert.Equal(1.0, c.LabelledFraction);
        var f1 = curve.MaxBy(s => s.F1)!;
        var f2 = curve.MaxBy(s => s.F2)!;
        Assert.Equal(f1.Threshold, c.For("f1").Threshold, 12);
        Assert.Equal((f1.Precision, f1.Recall), (c.For("f1").Precision, c.For("f1").Recall));
        Assert.Equal(f2.Threshold, c.For("f2").Threshold, 12);
        // F2 weighs recall above precision: its threshold lies lower and keeps more particles.
        Assert.True(c.For("f2").Recall > c.For("f1").Recall, $"{c.For("f2")} against {c.For("f1")}");
    }

    [Theory]
    // 50 labels on each of ten micrographs (500) and 20 (180): within 0.03 of the true best F1 (measured over 20 seeds:
    // up to 0.025 lost, from the sampling error of the labelled share read off the strongest picks).
    [InlineData(0.08, 2, 0.03)]
    [InlineData(0.08, 10, 0.03)]
    [InlineData(0.08, 11, 0.03)]
    [InlineData(0.03, 3, 0.03)]
    [InlineData(0.03, 60, 0.03)]
    [InlineData(0.03, 61, 0.03)]
    public void Sparse_labels_are_detected_and_the_threshold_lands_near_the_true_F1_best(double labelled, int seed, double loss)
    {
        var (curve, trueCurve, _) = Population(labelled, seed);
        var c = ThresholdCalibration.FromCurve(curve);
        Assert.True(c.SparseLabels);
        // The estimated share of labelled particles, read off the strongest picks, is near the true one.
        Assert.InRange(c.LabelledFraction, 0.75 * labelled, 1.25 * labelled);

        // Counting unlabelled particles as false positives puts the threshold far too high; the calibration does not.
        var naive = curve.MaxBy(s => s.F1)!;
        var truth = trueCurve.MaxBy(s => s.F1)!;
        var chosen = c.For("f1");
        var f1AtChosen = trueCurve.First(s => s.Threshold <= chosen.Threshold).F1;
        var f1AtNaive = trueCurve.First(s => s.Threshold <= naive.Threshold).F1;
        Assert.True(truth.F1 - f1AtChosen < loss, $"true F1 {f1AtChosen:0.000} at the calibrated {chosen.Threshold:0.000}, best {truth.F1:0.000} at {truth.Threshold:0.000}");
        Assert.True(truth.F1 - f1AtNaive > 0.05, $"naive threshold {naive.Threshold:0.000} gives {f1AtNaive:0.000}");
        // And the precision and recall it expects there are the true ones, within the share's sampling error (a few
        // hundred labels; precision is off by as much as the share, relatively).
        var atChosen = trueCurve.First(s => s.Threshold <= chosen.Threshold);
        Assert.InRange(chosen.Precision - atChosen.Precision, -0.1, 0.1);
        Assert.InRange(chosen.Recall - atChosen.Recall, -0.05, 0.05);
    }

    [Theory]
    [InlineData("auto", "f1")]
    [InlineData("auto-f1", "f1")]
    [InlineData("auto-f2", "f2")]
    [InlineData("0.5", null)]
    [InlineData("f2", null)]
    public void Threshold_words_name_their_criterion(string text, string? criterion) =>
        Assert.Equal(criterion, ThresholdCalibration.CriterionOf(text));

    [Fact]
    public void Too_few_matched_labels_to_read_the_share_count_precision_as_measured()
    {
        // 40 labels in all (4 micrographs of 10): never 50 matched, so the share is not read and no threshold of zero
        // (every peak) comes of dividing by the precision of all picks.
        var (curve, _, labels) = Population(labelled: 40 / 6000.0, seed: 5);
        Assert.InRange(labels, 20, 49);
        var c = ThresholdCalibration.FromCurve(curve);
        Assert.False(c.SparseLabels);
        Assert.Equal(1.0, c.LabelledFraction);
        Assert.Equal(curve.MaxBy(s => s.F1)!.Threshold, c.For("f1").Threshold, 12);
        Assert.True(c.For("f1").Threshold > 0.5, $"threshold {c.For("f1").Threshold}");
    }

    [Fact]
    public void No_picks_is_refused() => Assert.Throws<ArgumentException>(() => ThresholdCalibration.FromCurve([]));
}
