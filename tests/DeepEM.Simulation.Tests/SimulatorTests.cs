using DeepEM.Imaging;

namespace DeepEM.Simulation.Tests;

public class SimulatorTests
{
    private static readonly SimulationSettings Small = new() { Size = 512, BoxSize = 48 };

    [Fact]
    public void Same_seed_same_pixels_other_seed_other_pixels()
    {
        var sim = new MicrographSimulator(Small);
        var a = sim.Simulate(7, 0);
        var b = new MicrographSimulator(Small).Simulate(7, 0);
        Assert.Equal(a.Image.Data, b.Image.Data);
        Assert.Equal(a.Particles, b.Particles);
        Assert.NotEqual(a.Image.Data, sim.Simulate(8, 0).Image.Data);
        Assert.NotEqual(a.Image.Data, sim.Simulate(7, 1).Image.Data);
    }

    [Fact]
    public void Particles_keep_their_distances_and_stay_inside()
    {
        var sim = new MicrographSimulator(Small with { TouchingFraction = 0.2 });
        var d = Small.ParticleDiameter;
        var touching = 0;
        for (var i = 0; i < 4; i++)
        {
            var m = sim.Simulate(11, i);
            Assert.InRange(m.Particles.Count, 30, 200);
            foreach (var p in m.Particles)
            {
                Assert.InRange(p.X, 0, Small.Size - 1);
                Assert.InRange(p.Y, 0, Small.Size - 1);
                var nearest = m.Particles.Where(q => q != p).Min(q => Math.Sqrt((p.X - q.X) * (p.X - q.X) + (p.Y - q.Y) * (p.Y - q.Y)));
                Assert.True(nearest >= 0.75 * d - 1e-9, $"particles {nearest:0.0} px apart, diameter {d}");
                foreach (var c in m.Contaminants)
                {
                    Assert.True(Math.Sqrt((p.X - c.X) * (p.X - c.X) + (p.Y - c.Y) * (p.Y - c.Y)) >= c.Radius + d / 2 - 1e-9);
                }
                if (p.Touching) touching++;
            }
        }
        Assert.True(touching > 0, "some particles must touch a neighbour");
    }

    /// <summary>
    /// The particles must be there to be found: each particle's disc is darker than the ring around it, and
    /// the same measure at random places away from particles is centred on zero. The difference between the
    /// two sets must stand far above their spread (a t-statistic over 8).
    /// </summary>
    [Fact]
    public void Particles_are_dark_against_the_ice()
    {
        var settings = Small with { CarbonProbability = 0, ContaminantsPerMicrograph = 0 };
        var m = new MicrographSimulator(settings).Simulate(3, 0);
        var r = settings.ParticleDiameter / 2;
        double DiscMinusRing(double cx, double cy)
        {
            double disc = 0, ring = 0;
            int nd = 0, nr = 0;
            var extent = (int)Math.Ceiling(1.5 * r);
            for (var y = (int)cy - extent; y <= (int)cy + extent; y++)
                for (var x = (int)cx - extent; x <= (int)cx + extent; x++)
                {
                    if (x < 0 || y < 0 || x >= settings.Size || y >= settings.Size) continue;
                    var d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
                    if (d2 <= 0.6 * r * 0.6 * r) { disc += m.Image[x, y]; nd++; }
                    else if (d2 > 1.1 * r * 1.1 * r && d2 <= 1.5 * r * 1.5 * r) { ring += m.Image[x, y]; nr++; }
                }
            return disc / nd - ring / nr;
        }
        // Particles whose ring holds no other particle.
        var isolated = m.Particles.Where(p => m.Particles.All(q => q == p || Math.Sqrt((p.X - q.X) * (p.X - q.X) + (p.Y - q.Y) * (p.Y - q.Y)) > 2.6 * r)).ToList();
        Assert.True(isolated.Count >= 10, $"only {isolated.Count} isolated particles");
        var atParticles = isolated.Select(p => DiscMinusRing(p.X, p.Y)).ToArray();
        var rng = new Imaging.Randomness.DeterministicRandom(1);
        var background = new List<double>();
        while (background.Count < 100)
        {
            double x = rng.NextDouble(2 * r, settings.Size - 2 * r), y = rng.NextDouble(2 * r, settings.Size - 2 * r);
            if (m.Particles.All(p => Math.Sqrt((p.X - x) * (p.X - x) + (p.Y - y) * (p.Y - y)) > 3 * r))
                background.Add(DiscMinusRing(x, y));
        }
        static (double mean, double var) Stats(IReadOnlyCollection<double> v) =>
            (v.Average(), v.Select(a => (a - v.Average()) * (a - v.Average())).Sum() / (v.Count - 1));
        var (mp, vp) = Stats(atParticles);
        var (mb, vb) = Stats(background);
        var t = (mb - mp) / Math.Sqrt(vp / atParticles.Length + vb / background.Count);
        Assert.True(mp < 0, $"particles should be darker than their surroundings (disc − ring = {mp:0.00} counts)");
        Assert.True(t > 8, $"particle contrast t = {t:0.0} (particles {mp:0.00}, background {mb:0.00} counts)");
        var stats = ImageStatistics.Of(m.Image);
        Assert.InRange(stats.Mean, 0.9 * settings.DosePerPixel, 1.1 * settings.DosePerPixel);
    }

    [Fact]
    public void Dark_contaminants_absorb_and_carbon_darkens_part_of_the_micrograph()
    {
        var withCarbon = new MicrographSimulator(Small with { CarbonProbability = 1, ContaminantsPerMicrograph = 3 });
        var checkedContaminants = 0;
        for (var i = 0; i < 4; i++)
        {
            var m = withCarbon.Simulate(5, i);
            Assert.True(m.HasCarbon);
            foreach (var c in m.Contaminants.Where(c => c.Dark && c.X >= 0 && c.Y >= 0 && c.X < Small.Size && c.Y < Small.Size))
            {
                // Mean over the inner half of the blob: ice crystals absorb 20–45% of the beam.
                double sum = 0;
                var n = 0;
                var r = (int)(c.Radius / 2);
                for (var y = (int)c.Y - r; y <= (int)c.Y + r; y++)
                    for (var x = (int)c.X - r; x <= (int)c.X + r; x++)
                        if (x >= 0 && y >= 0 && x < Small.Size && y < Small.Size) { sum += m.Image[x, y]; n++; }
                Assert.True(sum / n < 0.85 * Small.DosePerPixel, $"dark contaminant at ({c.X:0},{c.Y:0}): mean {sum / n:0.0} counts");
                checkedContaminants++;
            }
        }
        Assert.True(checkedContaminants >= 3, $"only {checkedContaminants} dark contaminants inside the micrographs");

        // Carbon absorbs 12% over 15–35% of the area: the darkest fifth of 32 px blocks is darker with it than without.
        static double DarkestFifth(Image2D image)
        {
            var blocks = new List<double>();
            for (var by = 0; by < image.Height / 32; by++)
                for (var bx = 0; bx < image.Width / 32; bx++)
                {
                    double s2 = 0;
                    for (var y = 0; y < 32; y++)
                        for (var x = 0; x < 32; x++) s2 += image[bx * 32 + x, by * 32 + y];
                    blocks.Add(s2 / 1024);
                }
            return blocks.Order().Take(blocks.Count / 5).Average();
        }
        var bare = new MicrographSimulator(Small with { CarbonProbability = 0, ContaminantsPerMicrograph = 0 });
        var carbonOnly = new MicrographSimulator(Small with { CarbonProbability = 1, ContaminantsPerMicrograph = 0 });
        var without = Enumerable.Range(0, 4).Average(i => DarkestFifth(bare.Simulate(9, i).Image));
        var with = Enumerable.Range(0, 4).Average(i => DarkestFifth(carbonOnly.Simulate(9, i).Image));
        Assert.True(with < without - 0.05 * Small.DosePerPixel, $"darkest fifth: {with:0.0} counts with carbon, {without:0.0} without");
    }

    [Fact]
    public void Ctf_has_the_textbook_shape()
    {
        var ctf = new Ctf(20000, 20000, 0, 300, 2.7, 0.1, 0);
        Assert.Equal(0.0197, ctf.WavelengthAngstrom, 4);
        Assert.Equal(-0.1, ctf.Value(0, 0), 12);  // only amplitude contrast at zero frequency
        // Without Cs the first zero is where χ = π·λ·Δf·k² reaches π − atan(A/√(1−A²)); Cs shifts it only slightly at 20 Å.
        var noCs = ctf with { SphericalAberrationMm = 0 };
        var chiZero = Math.PI - Math.Atan(0.1 / Math.Sqrt(1 - 0.01));
        var k0 = Math.Sqrt(chiZero / (Math.PI * noCs.WavelengthAngstrom * 20000));
        Assert.Equal(0, noCs.Value(k0, 0), 9);
        Assert.True(noCs.Value(0.5 * k0, 0) < -0.5, "particles dark at low frequency under underfocus");
        // Astigmatism: defocus U along the astigmatism angle, V across it.
        var astig = new Ctf(20000, 15000, 0, 300, 0, 0.1, 0);
        Assert.Equal(noCs.Value(k0, 0), astig.Value(k0, 0), 9);
        Assert.NotEqual(astig.Value(k0, 0), astig.Value(0, k0), 3);
    }
}
