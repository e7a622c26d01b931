using DeepEM.Formats.Coordinates;
using DeepEM.Formats.Mrc;
using DeepEM.Imaging.Randomness;
using DeepEM.Simulation;

namespace DeepEM.TestSupport;

/// <summary>What a simulated pick really is.</summary>
public enum PickKind
{
    FirstKind = 0,
    SecondKind = 1,
    Junk = 2,
}

/// <summary>One simulated micrograph written as MRC, and its picks with what each really is.</summary>
public sealed record LabelledMicrograph(string Path, string Name, IReadOnlyList<Pick> Picks, IReadOnlyList<PickKind> Kinds);

/// <summary>
/// Simulated data for classification: micrographs with two kinds of particle (β-galactosidase-like and a ring stack,
/// half each) and particle-sized junk blobs, and picks at every particle, every junk blob and a few empty-ice places
/// (the false positives a picker makes). Written as real MRC files and RELION star picks.
/// </summary>
public static class ClassificationDataset
{
    public const int Box = 64;

    public static IReadOnlyList<LabelledMicrograph> Create(string folder, int count, ulong seed = 11, int emptyPicksPerMicrograph = 6)
    {
        var settings = new SimulationSettings { Size = 1024, BoxSize = Box, SecondKindFraction = 0.5, JunkPerMicrograph = 8 };
        var simulator = new MicrographSimulator(settings);
        var micrographs = Path.Combine(folder, "micrographs");
        var picks = Path.Combine(folder, "picks");
        Directory.CreateDirectory(micrographs);
        Directory.CreateDirectory(picks);
        var result = new List<LabelledMicrograph>();
        var diameter = settings.ParticleDiameter;
        for (var i = 0; i < count; i++)
        {
            var m = simulator.Simulate(seed, i);
            var name = $"mic{i:000}";
            var path = Path.Combine(micrographs, name + ".mrc");
            MrcWriter.Write(path, m.Image, pixelSizeAngstrom: settings.PixelSizeAngstrom);
            var list = new List<Pick>();
            var kinds = new List<PickKind>();
            foreach (var p in m.Particles)
            {
                list.Add(new Pick(p.X, p.Y, 0.9));
                kinds.Add(p.Kind == 1 ? PickKind.SecondKind : PickKind.FirstKind);
            }
            foreach (var j in m.JunkBlobs)
            {
                list.Add(new Pick(j.X, j.Y, 0.7));
                kinds.Add(PickKind.Junk);
            }
            // Empty ice: away from particles, junk and contaminants, and off the carbon is not checked (a picker hits both).
            var rng = DeterministicRandom.ForStream(seed ^ 0xE3E3UL, (ulong)i);
            var occupied = m.Particles.Select(p => (p.X, p.Y, R: diameter)).Concat(m.JunkBlobs.Concat(m.Contaminants).Select(c => (c.X, c.Y, R: c.Radius + diameter))).ToList();
            var empty = 0;
            for (var attempt = 0; attempt < 2000 && empty < emptyPicksPerMicrograph; attempt++)
            {
                var x = rng.NextDouble(Box, settings.Size - Box);
                var y = rng.NextDouble(Box, settings.Size - Box);
                if (occupied.Any(o => Math.Sqrt((x - o.X) * (x - o.X) + (y - o.Y) * (y - o.Y)) < o.R)) continue;
                occupied.Add((x, y, diameter));
                list.Add(new Pick(x, y, 0.6));
                kinds.Add(PickKind.Junk);
                empty++;
            }
            RelionStarCoordinates.Write(Path.Combine(picks, name + ".star"), list);
            result.Add(new LabelledMicrograph(path, name, list, kinds));
        }
        return result;
    }

    /// <summary>
    /// Purity of a partition: Σ over classes of the count of its commonest kind, over all particles. Also the table of
    /// counts, class by kind, for the test's output.
    /// </summary>
    public static (double Purity, string Table) Purity(IEnumerable<(int Class, PickKind Kind)> assigned)
    {
        var groups = assigned.GroupBy(a => a.Class).OrderBy(g => g.Key).ToList();
        var total = groups.Sum(g => g.Count());
        var pure = groups.Sum(g => g.GroupBy(a => a.Kind).Max(k => k.Count()));
        var lines = groups.Select(g =>
            $"class {g.Key + 1,2}: first {g.Count(a => a.Kind == PickKind.FirstKind),4}  second {g.Count(a => a.Kind == PickKind.SecondKind),4}  junk {g.Count(a => a.Kind == PickKind.Junk),4}");
        return (total == 0 ? 0 : pure / (double)total, string.Join('\n', lines));
    }
}
