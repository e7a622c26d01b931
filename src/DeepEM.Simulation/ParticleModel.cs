using DeepEM.Imaging.Randomness;

namespace DeepEM.Simulation;

/// <summary>
/// A small protein complex as a cloud of Gaussian "atoms" (each standing for a few residues): four subunits
/// of two domains each, arranged with D2 symmetry like β-galactosidase, so that its projections change shape
/// with orientation (elongated side views, square top views) as real particles do.
/// </summary>
public sealed class ParticleModel
{
    private ParticleModel(double[] x, double[] y, double[] z, double radius)
    {
        X = x;
        Y = y;
        Z = z;
        Radius = radius;
    }

    /// <summary>Atom positions in pixels, centred on the origin.</summary>
    public double[] X { get; }

    public double[] Y { get; }

    public double[] Z { get; }

    /// <summary>Largest distance of an atom from the centre, in pixels.</summary>
    public double Radius { get; }

    public int AtomCount => X.Length;

    /// <summary>
    /// Builds the complex so that it spans <paramref name="diameter"/> pixels. The shape is fixed by a constant
    /// seed: every micrograph of every dataset shows the same molecule.
    /// </summary>
    public static ParticleModel Create(double diameter, int atomsPerDomain = 60)
    {
        var rng = new DeterministicRandom(0xBE7A6A1UL);
        // One subunit: a large and a small domain, then the D2 group (identity and three 180° turns).
        (double cx, double cy, double cz, double sx, double sy, double sz)[] domains =
        [
            (0.36, 0.20, 0.16, 0.22, 0.17, 0.15),
            (0.14, 0.38, -0.12, 0.15, 0.13, 0.12),
        ];
        int[][] symmetry = [[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]];
        var xs = new List<double>();
        var ys = new List<double>();
        var zs = new List<double>();
        foreach (var s in symmetry)
        {
            foreach (var d in domains)
            {
                for (var a = 0; a < atomsPerDomain; a++)
                {
                    xs.Add(s[0] * (d.cx + d.sx * rng.NextGaussian()));
                    ys.Add(s[1] * (d.cy + d.sy * rng.NextGaussian()));
                    zs.Add(s[2] * (d.cz + d.sz * rng.NextGaussian()));
                }
            }
        }
        // Scale so that 98% of the atoms lie within the requested radius (a few outliers make a fuzzy rim).
        var radii = xs.Select((_, i) => Math.Sqrt(xs[i] * xs[i] + ys[i] * ys[i] + zs[i] * zs[i])).Order().ToArray();
        var scale = diameter / 2 / radii[(int)(0.98 * (radii.Length - 1))];
        var x = xs.Select(v => v * scale).ToArray();
        var y = ys.Select(v => v * scale).ToArray();
        var z = zs.Select(v => v * scale).ToArray();
        return new ParticleModel(x, y, z, radii[^1] * scale);
    }

    /// <summary>
    /// A second kind of complex: four stacked rings of seven subunits (like the 20S proteasome), about 1.4 times as
    /// long as wide. Its top views are seven-fold rings and its side views striped barrels, unlike any view of
    /// <see cref="Create"/>'s complex. Scaled like it: 98% of the atoms within <paramref name="diameter"/>/2.
    /// </summary>
    public static ParticleModel CreateRingStack(double diameter, int atomsPerSubunit = 16)
    {
        var rng = new DeterministicRandom(0x20505EA5UL);
        var xs = new List<double>();
        var ys = new List<double>();
        var zs = new List<double>();
        double[] layers = [-0.39, -0.13, 0.13, 0.39];
        foreach (var z in layers)
        {
            for (var k = 0; k < 7; k++)
            {
                // Outer rings (α) a little narrower than inner ones (β), each turned by half a subunit.
                var ringRadius = Math.Abs(z) > 0.3 ? 0.24 : 0.28;
                var angle = 2 * Math.PI * (k + (Math.Abs(z) > 0.3 ? 0.5 : 0)) / 7;
                for (var a = 0; a < atomsPerSubunit; a++)
                {
                    xs.Add(ringRadius * Math.Cos(angle) + 0.055 * rng.NextGaussian());
                    ys.Add(ringRadius * Math.Sin(angle) + 0.055 * rng.NextGaussian());
                    zs.Add(z + 0.05 * rng.NextGaussian());
                }
            }
        }
        var radii = xs.Select((_, i) => Math.Sqrt(xs[i] * xs[i] + ys[i] * ys[i] + zs[i] * zs[i])).Order().ToArray();
        var scale = diameter / 2 / radii[(int)(0.98 * (radii.Length - 1))];
        return new ParticleModel(xs.Select(v => v * scale).ToArray(), ys.Select(v => v * scale).ToArray(), zs.Select(v => v * scale).ToArray(), radii[^1] * scale);
    }
}
