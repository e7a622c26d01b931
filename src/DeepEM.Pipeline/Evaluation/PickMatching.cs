using DeepEM.Formats.Coordinates;

namespace DeepEM.Pipeline.Evaluation;

/// <summary>
/// One-to-one matching of picks to true centres within a radius: a maximum matching (optimal assignment
/// of the bipartite graph "pick within radius of centre"), not a greedy nearest-first one. Picks are added
/// strongest first and each one searches for an augmenting path (Kuhn); by Berge's theorem the matching is
/// then maximum for every prefix, that is, for every threshold, which gives the exact precision-recall curve.
/// </summary>
public sealed class PickMatching
{
    private readonly List<Pick> _truth;
    private readonly double _radius2;
    private readonly Dictionary<(int, int), List<int>> _grid = new();
    private readonly double _cell;
    private readonly List<int[]> _neighbours = [];
    private readonly int[] _truthMatch;
    private readonly List<int> _pickMatch = [];

    public PickMatching(IReadOnlyList<Pick> truth, double radius)
    {
        _truth = truth.ToList();
        _radius2 = radius * radius;
        _cell = Math.Max(radius, 1);
        _truthMatch = Enumerable.Repeat(-1, _truth.Count).ToArray();
        for (var t = 0; t < _truth.Count; t++)
        {
            var key = Key(_truth[t].X, _truth[t].Y);
            if (!_grid.TryGetValue(key, out var list)) _grid[key] = list = [];
            list.Add(t);
        }
    }

    public int Matched { get; private set; }

    public int PickCount => _neighbours.Count;

    /// <summary>Adds the next pick (picks must come in descending score); returns true when the matching grew.</summary>
    public bool Add(Pick pick)
    {
        var near = new List<int>();
        var (kx, ky) = Key(pick.X, pick.Y);
        for (var dy = -1; dy <= 1; dy++)
            for (var dx = -1; dx <= 1; dx++)
                if (_grid.TryGetValue((kx + dx, ky + dy), out var list))
                    foreach (var t in list)
                    {
                        var ex = _truth[t].X - pick.X;
                        var ey = _truth[t].Y - pick.Y;
                        if (ex * ex + ey * ey <= _radius2) near.Add(t);
                    }
        // Nearest first: among maximum matchings, prefer short pairs.
        near.Sort((a, b) => Distance2(pick, _truth[a]).CompareTo(Distance2(pick, _truth[b])));
        _neighbours.Add(near.ToArray());
        _pickMatch.Add(-1);
        var visited = new HashSet<int>();
        if (Augment(_neighbours.Count - 1, visited))
        {
            Matched++;
            return true;
        }
        return false;
    }

    /// <summary>For each pick added so far, the true centre it is matched to, or −1.</summary>
    public IReadOnlyList<int> PickToTruth => _pickMatch;

    /// <summary>For each true centre, the pick matched to it, or −1.</summary>
    public IReadOnlyList<int> TruthToPick => _truthMatch;

    private bool Augment(int pick, HashSet<int> visited)
    {
        foreach (var t in _neighbours[pick])
        {
            if (!visited.Add(t)) continue;
            if (_truthMatch[t] < 0 || Augment(_truthMatch[t], visited))
            {
                _truthMatch[t] = pick;
                _pickMatch[pick] = t;
                return true;
            }
        }
        return false;
    }

    private static double Distance2(Pick a, Pick b) => (a.X - b.X) * (a.X - b.X) + (a.Y - b.Y) * (a.Y - b.Y);

    private (int, int) Key(double x, double y) => ((int)Math.Floor(x / _cell), (int)Math.Floor(y / _cell));
}
