using DeepEM.Formats.Coordinates;
using DeepEM.Numerics.Training;

namespace DeepEM.Pipeline.Evaluation;

/// <summary>Counts and scores at one threshold.</summary>
public sealed record Scores(double Threshold, int Picks, int TruePositives, int FalsePositives, int FalseNegatives)
{
    public double Precision => Picks > 0 ? TruePositives / (double)Picks : 0;
    public double Recall => TruePositives + FalseNegatives > 0 ? TruePositives / (double)(TruePositives + FalseNegatives) : 0;
    public double F1 => ThresholdSelection.FBeta(Precision, Recall, 1);
    public double F2 => ThresholdSelection.FBeta(Precision, Recall, 2);
}

public sealed record MicrographScores(string Name, Scores AllPicks, Scores AtBestF2);

public sealed record EvaluationReport(
    double Radius,
    int Micrographs,
    int TrueCentres,
    Scores AllPicks,
    Scores BestF2,
    Scores BestF1,
    double AreaUnderPrCurve,
    IReadOnlyList<Scores> Curve,
    IReadOnlyList<MicrographScores> PerMicrograph,
    IReadOnlyList<string> MicrographsWithoutPicks,
    IReadOnlyList<string> PicksWithoutTruth);

/// <summary>
/// Precision, recall, F1, F2 and the area under the precision-recall curve of picks against true centres,
/// pooled over micrographs and per micrograph, at every threshold the picks' scores allow.
/// </summary>
public static class PickEvaluation
{
    public static EvaluationReport Evaluate(IReadOnlyDictionary<string, List<Pick>> picks, IReadOnlyDictionary<string, List<Pick>> truth, double radius)
    {
        var names = truth.Keys.Order(StringComparer.Ordinal).ToList();
        var missing = names.Where(n => !picks.ContainsKey(n)).ToList();
        var extra = picks.Keys.Where(n => !truth.ContainsKey(n)).Order(StringComparer.Ordinal).ToList();
        // Every pick with the number of true positives it adds in its micrograph (0 or 1).
        var events = new List<(double score, int gain, string name)>();
        var perMicrographEvents = new Dictionary<string, List<(double score, int gain)>>();
        var totalTruth = 0;
        foreach (var name in names)
        {
            var t = truth[name];
            totalTruth += t.Count;
            var matching = new PickMatching(t, radius);
            var ordered = picks.TryGetValue(name, out var p) ? p.OrderByDescending(x => x.Score ?? 1.0).ToList() : [];
            var list = new List<(double, int)>();
            foreach (var pick in ordered)
            {
                var gain = matching.Add(pick) ? 1 : 0;
                events.Add((pick.Score ?? 1.0, gain, name));
                list.Add((pick.Score ?? 1.0, gain));
            }
            perMicrographEvents[name] = list;
        }
        var curve = Curve(events.Select(e => (e.score, e.gain)).ToList(), totalTruth);
        var all = curve.Count > 0 ? curve[^1] : new Scores(1, 0, 0, 0, totalTruth);
        var bestF2 = curve.Count > 0 ? curve.MaxBy(s => s.F2)! : all;
        var bestF1 = curve.Count > 0 ? curve.MaxBy(s => s.F1)! : all;
        // Average precision: the area under the step-wise precision-recall curve.
        double area = 0, lastRecall = 0;
        foreach (var s in curve)
        {
            area += (s.Recall - lastRecall) * s.Precision;
            lastRecall = s.Recall;
        }
        var perMicrograph = names.Select(name =>
        {
            var ev = perMicrographEvents[name];
            var c = Curve(ev, truth[name].Count);
            var allHere = c.Count > 0 ? c[^1] : new Scores(1, 0, 0, 0, truth[name].Count);
            var atBest = c.LastOrDefault(s => s.Threshold >= bestF2.Threshold) ?? new Scores(bestF2.Threshold, 0, 0, 0, truth[name].Count);
            return new MicrographScores(name, allHere, atBest);
        }).ToList();
        return new EvaluationReport(radius, names.Count, totalTruth, all, bestF2, bestF1, area, curve, perMicrograph, missing, extra);
    }

    /// <summary>Scores at each distinct pick score, from the highest threshold down to all picks.</summary>
    private static List<Scores> Curve(List<(double score, int gain)> events, int truthCount)
    {
        var ordered = events.OrderByDescending(e => e.score).ToList();
        var curve = new List<Scores>();
        int tp = 0, n = 0;
        for (var i = 0; i < ordered.Count; i++)
        {
            tp += ordered[i].gain;
            n++;
            if (i + 1 < ordered.Count && ordered[i + 1].score == ordered[i].score) continue;
            curve.Add(new Scores(ordered[i].score, n, tp, n - tp, truthCount - tp));
        }
        return curve;
    }
}

/// <summary>
/// The paper's refinement of the training set: picks that match no true centre at a threshold are false
/// positives, which <c>deepem train --init MODEL --negatives DIR</c> learns as non-particles.
/// </summary>
public static class FalsePositives
{
    public static Dictionary<string, List<Pick>> Find(IReadOnlyDictionary<string, List<Pick>> picks, IReadOnlyDictionary<string, List<Pick>> truth,
        double radius, double threshold)
    {
        var result = new Dictionary<string, List<Pick>>(StringComparer.Ordinal);
        foreach (var (name, t) in truth)
        {
            if (!picks.TryGetValue(name, out var p)) continue;
            var kept = p.Where(x => (x.Score ?? 1) >= threshold).OrderByDescending(x => x.Score ?? 1).ToList();
            var matching = new PickMatching(t, radius);
            foreach (var pick in kept) matching.Add(pick);
            result[name] = kept.Where((_, i) => matching.PickToTruth[i] < 0).ToList();
        }
        return result;
    }
}
