using DeepEM.Numerics.Scoring;

namespace DeepEM.Pipeline.Picking;

/// <summary>A peak of a score grid: grid column and row, and its score.</summary>
public readonly record struct Peak(int Column, int Row, float Score);

/// <summary>
/// The paper's step 4: keep boxes whose score is a local maximum (no larger score among the 8 neighbours of
/// the grid) and at least the threshold; then non-maximum suppression, strongest first, so that no two kept
/// peaks are closer than the suppression distance.
/// </summary>
public static class PeakFinder
{
    public static List<Peak> Find(float[] grid, int columns, int rows, float threshold, double distance) =>
        Suppress(FromMaxima(LocalMaxima.Find(grid.AsSpan(0, columns * rows), columns, rows, threshold)), distance);

    /// <summary>Local maxima of a map (found on whichever device scored it) as candidate peaks.</summary>
    public static List<Peak> FromMaxima(IReadOnlyList<MapPeak> maxima) => maxima.Select(m => new Peak(m.X, m.Y, m.Score)).ToList();

    /// <summary>Greedy non-maximum suppression in grid units, with a bucket grid so that it stays linear.</summary>
    public static List<Peak> Suppress(List<Peak> candidates, double distance)
    {
        var ordered = candidates.OrderByDescending(p => p.Score).ThenBy(p => p.Row).ThenBy(p => p.Column).ToList();
        if (distance <= 0) return ordered;
        var cell = Math.Max(1, (int)Math.Ceiling(distance));
        var buckets = new Dictionary<(int, int), List<Peak>>();
        var kept = new List<Peak>();
        var d2 = distance * distance;
        foreach (var p in ordered)
        {
            var (bx, by) = (p.Column / cell, p.Row / cell);
            var clash = false;
            for (var dy = -1; dy <= 1 && !clash; dy++)
            {
                for (var dx = -1; dx <= 1 && !clash; dx++)
                {
                    if (!buckets.TryGetValue((bx + dx, by + dy), out var list)) continue;
                    foreach (var q in list)
                    {
                        if ((double)(p.Column - q.Column) * (p.Column - q.Column) + (double)(p.Row - q.Row) * (p.Row - q.Row) < d2)
                        {
                            clash = true;
                            break;
                        }
                    }
                }
            }
            if (clash) continue;
            kept.Add(p);
            if (!buckets.TryGetValue((bx, by), out var own)) buckets[(bx, by)] = own = [];
            own.Add(p);
        }
        return kept;
    }
}
