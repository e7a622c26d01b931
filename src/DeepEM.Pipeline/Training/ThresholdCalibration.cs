using DeepEM.Numerics.Training;
using DeepEM.Pipeline.Evaluation;

namespace DeepEM.Pipeline.Training;

/// <summary>A picking threshold chosen by one criterion, with the precision and recall expected there.</summary>
public sealed record CalibratedThreshold(string Criterion, double Threshold, double Precision, double Recall)
{
    public double F1 => ThresholdSelection.FBeta(Precision, Recall, 1);
    public double F2 => ThresholdSelection.FBeta(Precision, Recall, 2);
}

/// <summary>The thresholds of every criterion and what they rest on.</summary>
public sealed record Calibration(double LabelledFraction, bool SparseLabels, IReadOnlyList<CalibratedThreshold> Thresholds)
{
    public CalibratedThreshold For(string criterion) => Thresholds.First(t => t.Criterion == criterion);
}

/// <summary>
/// Picking thresholds from picks of labelled micrographs (every peak kept, matched one to one to the labels).
/// Recall is counted on the labels. Precision is what needs care: a user labels a few particles per micrograph
/// and leaves the rest, and a pick on an unlabelled particle is no false positive. Labelled particles are a random
/// sample of all particles, so a pick on a particle is matched with probability f, the labelled share, and
/// precision = matched / (f · picks). f is estimated where precision is highest, among the strongest picks: the
/// highest measured precision once 30% of the labels (at least 50) are matched. That is f times the true
/// precision there, which is near 1 for a network that learnt the particles (with every particle labelled 0.9–0.95
/// on EMPIAR-10017) and lower for one that did not; then precision is overestimated by as much, and the threshold
/// lands lower, but its order of thresholds stays right (dividing by the share at a fixed recall, where a weak
/// network's own false positives halve it, left precision at 1 everywhere and picked everything).
/// Below <see cref="SparseBelow"/> the labels are taken as sparse and precision is divided by that estimate;
/// above, as complete, and precision is counted as measured; so too when no threshold matches that many labels
/// (too few labels, or a network that finds few of them), since the share cannot be read then. A network that
/// picks poorly with every particle labelled (precision below one half among its strongest picks) looks like
/// sparse labels: its threshold lands lower than the F1-best. The F2-best is the paper's threshold; the F1-best
/// is the default, since F1 is what a user and the benchmarks judge picks by.
/// </summary>
public static class ThresholdCalibration
{
    public const string F1 = "f1";
    public const string F2 = "f2";
    public const string DefaultCriterion = F1;
    public static readonly IReadOnlyList<string> Criteria = [F1, F2];

    /// <summary>A labelled share estimated below this marks the labels as sparse (complete labels measure above 0.8).</summary>
    public const double SparseBelow = 0.5;

    /// <summary>Share of the labels that must be matched before precision is read as the labelled share.</summary>
    public const double ReferenceRecall = 0.3;

    public const int ReferenceMatches = 50;

    /// <summary>The thresholds of <see cref="Criteria"/> on a precision-recall curve, from the highest threshold down.</summary>
    public static Calibration FromCurve(IReadOnlyList<Scores> curve)
    {
        if (curve.Count == 0) throw new ArgumentException("no picks to calibrate a threshold with");
        var labels = curve[0].TruePositives + curve[0].FalseNegatives;
        var enough = Math.Max(ReferenceMatches, (int)Math.Ceiling(ReferenceRecall * labels));
        var measurable = curve.Where(s => s.TruePositives >= enough).ToList();
        var share = measurable.Count == 0 ? 1 : Math.Clamp(measurable.Max(s => s.Precision), 1e-6, 1);
        var sparse = share < SparseBelow;
        var f = sparse ? share : 1;
        var points = curve.Select(s => (s.Threshold, Precision: Math.Min(1, s.Precision / f), s.Recall)).ToList();
        var thresholds = Criteria.Select(c =>
        {
            var beta = c == F1 ? 1 : 2;
            var best = points.MaxBy(p => ThresholdSelection.FBeta(p.Precision, p.Recall, beta));
            return new CalibratedThreshold(c, best.Threshold, best.Precision, best.Recall);
        }).ToList();
        return new Calibration(sparse ? share : 1, sparse, thresholds);
    }

    /// <summary>"auto" (the default criterion), "auto-f1" or "auto-f2" to a criterion; null for anything else.</summary>
    public static string? CriterionOf(string text) => text switch
    {
        "auto" => DefaultCriterion,
        "auto-f1" => F1,
        "auto-f2" => F2,
        _ => null,
    };
}
