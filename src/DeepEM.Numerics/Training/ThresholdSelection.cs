namespace DeepEM.Numerics.Training;

/// <summary>Precision, recall and F-beta of scored, labelled boxes at a threshold.</summary>
public readonly record struct ThresholdPoint(double Threshold, double Precision, double Recall, double F1, double F2);

/// <summary>
/// The paper's threshold: the one at which F2 = 5·P·R / (4·P + R) (recall weighted above precision) is
/// highest over the validation boxes. Every distinct score is tried as a threshold (score ≥ t is a pick).
/// </summary>
public static class ThresholdSelection
{
    public static double FBeta(double precision, double recall, double beta)
    {
        var b2 = beta * beta;
        var d = b2 * precision + recall;
        return d > 0 ? (1 + b2) * precision * recall / d : 0;
    }

    public static IReadOnlyList<ThresholdPoint> Curve(IReadOnlyList<float> scores, IReadOnlyList<float> labels)
    {
        var order = Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ToArray();
        var positives = labels.Count(l => l > 0.5f);
        var points = new List<ThresholdPoint>();
        int tp = 0, fp = 0;
        for (var k = 0; k < order.Length; k++)
        {
            if (labels[order[k]] > 0.5f) tp++; else fp++;
            // Only where the next score differs: ties are picked together.
            if (k + 1 < order.Length && scores[order[k + 1]] == scores[order[k]]) continue;
            var precision = tp / (double)(tp + fp);
            var recall = positives > 0 ? tp / (double)positives : 0;
            points.Add(new ThresholdPoint(scores[order[k]], precision, recall, FBeta(precision, recall, 1), FBeta(precision, recall, 2)));
        }
        return points;
    }

    public static ThresholdPoint BestF2(IReadOnlyList<float> scores, IReadOnlyList<float> labels)
    {
        var curve = Curve(scores, labels);
        return curve.Count == 0 ? new ThresholdPoint(0.5, 0, 0, 0, 0) : curve.MaxBy(p => p.F2);
    }
}
