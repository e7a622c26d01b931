using DeepEM.Imaging;
using DeepEM.Imaging.Randomness;
using DeepEM.Imaging.Fourier;

namespace DeepEM.Simulation;

/// <summary>
/// A particle placed in a simulated micrograph: its centre (x column, y row), whether it touches another, and its kind
/// (0: the β-galactosidase-like complex; 1: the ring-shaped second kind of <see cref="SimulationSettings.SecondKindFraction"/>).
/// </summary>
public readonly record struct SimulatedParticle(double X, double Y, bool Touching, int Kind = 0);

/// <summary>A contaminant: centre, radius in pixels, and whether it is dark (ice crystal) or bright (thin spot).</summary>
public readonly record struct Contaminant(double X, double Y, double Radius, bool Dark);

public sealed record SimulatedMicrograph(
    Image2D Image,
    IReadOnlyList<SimulatedParticle> Particles,
    IReadOnlyList<Contaminant> Contaminants,
    Ctf Ctf,
    bool HasCarbon,
    IReadOnlyList<Contaminant>? Junk = null)
{
    /// <summary>Particle-sized dark blobs (aggregates, ice fragments) of <see cref="SimulationSettings.JunkPerMicrograph"/>: what a picker mistakes for particles.</summary>
    public IReadOnlyList<Contaminant> JunkBlobs => Junk ?? [];
}

/// <summary>
/// Simulates micrographs as a cryo-EM microscope forms them:
/// <list type="number">
/// <item>the projected potential: the complex of <see cref="ParticleModel"/> at uniformly random 3D orientations,
/// plus contaminants and, on some micrographs, a carbon film with its own texture;</item>
/// <item>the CTF (defocus, astigmatism, spherical aberration, amplitude contrast, envelope) applied in Fourier space;</item>
/// <item>the amplitude terms: a slowly varying ice thickness, absorption by carbon and contaminants;</item>
/// <item>shot noise: Poisson counts at the chosen dose.</item>
/// </list>
/// Deterministic: micrograph <c>i</c> of seed <c>s</c> is the same on every machine.
/// </summary>
public sealed class MicrographSimulator
{
    private readonly SimulationSettings _settings;
    private readonly ParticleModel _model;
    private readonly ParticleModel _secondModel;

    public MicrographSimulator(SimulationSettings settings)
    {
        settings.Validate();
        _settings = settings;
        _model = ParticleModel.Create(settings.ParticleDiameter);
        _secondModel = ParticleModel.CreateRingStack(settings.ParticleDiameter);
    }

    public SimulationSettings Settings => _settings;

    public SimulatedMicrograph Simulate(ulong seed, int index)
    {
        var s = _settings;
        var rng = DeterministicRandom.ForStream(seed, (ulong)index);
        var n = s.Size;
        var diameter = s.ParticleDiameter;
        var radius = diameter / 2;

        // Carbon: a half-plane bounded by a straight edge, covering 15–35% of the micrograph.
        var hasCarbon = rng.NextDouble() < s.CarbonProbability;
        var carbonAngle = rng.NextDouble(0, 2 * Math.PI);
        var (nx, ny) = (Math.Cos(carbonAngle), Math.Sin(carbonAngle));
        var carbonOffset = FindCarbonOffset(n, nx, ny, rng.NextDouble(0.15, 0.35));
        double CarbonDepth(double x, double y) => x * nx + y * ny - carbonOffset; // > 0 inside carbon

        var contaminants = PlaceContaminants(rng, n, radius);
        var particles = PlaceParticles(rng, n, diameter, hasCarbon ? CarbonDepth : null, contaminants);
        // The second kind and the junk draw from their own stream: with both off, a seed gives the bytes it always gave.
        var extra = DeterministicRandom.ForStream(seed ^ 0x2D0C1A55UL, (ulong)index);
        if (s.SecondKindFraction > 0)
        {
            for (var i = 0; i < particles.Count; i++)
            {
                if (extra.NextDouble() < s.SecondKindFraction) particles[i] = particles[i] with { Kind = 1 };
            }
        }
        var junk = PlaceJunk(extra, n, diameter, particles, contaminants);

        // 1. Projected potential of the particles.
        var phase = new float[n * n];
        foreach (var p in particles)
        {
            RenderParticle(phase, n, p.X, p.Y, rng.NextRotation(), p.Kind == 1 ? _secondModel : _model);
        }
        var particleScale = 1.0;
        {
            // Normalise so that the particles' potential has unit peak-to-mean: the SNR below is then set after the CTF.
            var max = 0f;
            foreach (var v in phase) max = Math.Max(max, v);
            particleScale = max > 0 ? 1.0 / max : 1.0;
            for (var i = 0; i < phase.Length; i++) phase[i] *= (float)particleScale;
        }

        // Contaminants and carbon also scatter: a strong phase object with a sharp edge, which the CTF fringes.
        var amplitude = new float[n * n];
        Array.Fill(amplitude, 1f);
        foreach (var c in contaminants)
        {
            AddContaminant(phase, amplitude, n, c, rng);
        }
        foreach (var j in junk)
        {
            AddContaminant(phase, amplitude, n, j, extra);
        }
        if (hasCarbon)
        {
            for (var y = 0; y < n; y++)
            {
                for (var x = 0; x < n; x++)
                {
                    var depth = CarbonDepth(x, y);
                    var inside = 1 / (1 + Math.Exp(-depth / 1.5));
                    if (inside < 1e-4) continue;
                    var i = y * n + x;
                    phase[i] += (float)(inside * (1.2 + 0.35 * rng.NextGaussian()));
                    amplitude[i] *= (float)(1 - 0.12 * inside);
                }
            }
        }

        // 2. CTF.
        var defocus = rng.NextDouble(s.DefocusMinMicrons, s.DefocusMaxMicrons) * 1e4;
        var astig = rng.NextDouble(0, s.AstigmatismMaxMicrons) * 1e4;
        var ctf = new Ctf(defocus + astig / 2, defocus - astig / 2, rng.NextDouble(0, Math.PI), s.VoltageKv,
            s.SphericalAberrationMm, s.AmplitudeContrast, s.BFactor);
        var filtered = ApplyCtf(phase, n, ctf, s.PixelSizeAngstrom);

        // Signal scale: particle signal variance / shot-noise variance = SNR, measured inside the particles.
        var particleStd = StdInsideParticles(filtered, n, particles, radius);
        var signalScale = particleStd > 0 ? Math.Sqrt(s.Snr / s.DosePerPixel) / particleStd : 0;

        // 3. Ice thickness: a smooth field on a coarse grid, cosine-interpolated.
        var ice = SmoothField(rng, n, 6, s.IceVariation);

        // 4. Shot noise.
        var image = new Image2D(n, n);
        var data = image.Data;
        for (var i = 0; i < data.Length; i++)
        {
            var expected = s.DosePerPixel * amplitude[i] * (ice[i] + signalScale * filtered[i]);
            data[i] = rng.NextPoisson(Math.Max(0, expected));
        }
        return new SimulatedMicrograph(image, particles, contaminants, ctf, hasCarbon, junk);
    }

    private static double FindCarbonOffset(int n, double nx, double ny, double fraction)
    {
        // The offset whose half-plane covers the wanted fraction, found on a coarse grid by bisection.
        double lo = -2 * n, hi = 2 * n;
        for (var iter = 0; iter < 40; iter++)
        {
            var mid = 0.5 * (lo + hi);
            var inside = 0;
            const int g = 32;
            for (var gy = 0; gy < g; gy++)
            {
                for (var gx = 0; gx < g; gx++)
                {
                    var x = (gx + 0.5) * n / g;
                    var y = (gy + 0.5) * n / g;
                    if (x * nx + y * ny - mid > 0) inside++;
                }
            }
            if (inside / (double)(g * g) > fraction) lo = mid; else hi = mid;
        }
        return 0.5 * (lo + hi);
    }

    private List<Contaminant> PlaceContaminants(DeterministicRandom rng, int n, double particleRadius)
    {
        var count = rng.NextPoisson(_settings.ContaminantsPerMicrograph);
        var list = new List<Contaminant>();
        for (var k = 0; k < count; k++)
        {
            var r = particleRadius * rng.NextDouble(1.2, 3.5);
            list.Add(new Contaminant(rng.NextDouble(0, n), rng.NextDouble(0, n), r, rng.NextDouble() < 0.7));
        }
        return list;
    }

    private List<SimulatedParticle> PlaceParticles(DeterministicRandom rng, int n, double diameter,
        Func<double, double, double>? carbonDepth, List<Contaminant> contaminants)
    {
        var s = _settings;
        var wanted = s.ParticlesPerMicrograph ?? (int)Math.Round(0.12 * n * n / (Math.PI / 4 * diameter * diameter));
        var margin = diameter / 4;
        var particles = new List<SimulatedParticle>();
        bool Free(double x, double y, double minDistance)
        {
            if (x < margin || y < margin || x > n - 1 - margin || y > n - 1 - margin) return false;
            // Particles avoid the carbon (a few sit on it in real data, but truth there is ambiguous).
            if (carbonDepth is not null && carbonDepth(x, y) > -diameter / 2) return false;
            foreach (var c in contaminants)
            {
                if (Math.Sqrt((x - c.X) * (x - c.X) + (y - c.Y) * (y - c.Y)) < c.Radius + diameter / 2) return false;
            }
            foreach (var p in particles)
            {
                if ((x - p.X) * (x - p.X) + (y - p.Y) * (y - p.Y) < minDistance * minDistance) return false;
            }
            return true;
        }
        var attempts = 0;
        while (particles.Count < wanted && attempts < wanted * 200)
        {
            attempts++;
            if (particles.Count > 0 && rng.NextDouble() < s.TouchingFraction)
            {
                // A touching pair: next to an existing particle, closer than one diameter but not overlapping much.
                var anchor = particles[rng.NextInt(particles.Count)];
                var d = diameter * rng.NextDouble(0.75, 1.0);
                var a = rng.NextDouble(0, 2 * Math.PI);
                var x = anchor.X + d * Math.Cos(a);
                var y = anchor.Y + d * Math.Sin(a);
                if (Free(x, y, 0.75 * diameter))
                {
                    particles.Add(new SimulatedParticle(x, y, true));
                }
            }
            else
            {
                var x = rng.NextDouble(0, n);
                var y = rng.NextDouble(0, n);
                if (Free(x, y, 1.1 * diameter))
                {
                    particles.Add(new SimulatedParticle(x, y, false));
                }
            }
        }
        return particles;
    }

    /// <summary>Particle-sized dark blobs away from the particles and contaminants (none unless JunkPerMicrograph &gt; 0).</summary>
    private List<Contaminant> PlaceJunk(DeterministicRandom rng, int n, double diameter, List<SimulatedParticle> particles, List<Contaminant> contaminants)
    {
        var junk = new List<Contaminant>();
        if (_settings.JunkPerMicrograph <= 0) return junk;
        var wanted = rng.NextPoisson(_settings.JunkPerMicrograph);
        for (var attempt = 0; attempt < wanted * 200 && junk.Count < wanted; attempt++)
        {
            var x = rng.NextDouble(diameter, n - diameter);
            var y = rng.NextDouble(diameter, n - diameter);
            var r = diameter / 2 * rng.NextDouble(0.35, 0.7);
            if (particles.Any(p => Math.Sqrt((x - p.X) * (x - p.X) + (y - p.Y) * (y - p.Y)) < 1.1 * diameter)) continue;
            if (contaminants.Concat(junk).Any(c => Math.Sqrt((x - c.X) * (x - c.X) + (y - c.Y) * (y - c.Y)) < c.Radius + diameter)) continue;
            junk.Add(new Contaminant(x, y, r, Dark: true));
        }
        return junk;
    }

    private void RenderParticle(float[] phase, int n, double cx, double cy, double[] r, ParticleModel model)
    {
        // Each atom stands for a few residues blurred to about 1/20 of the particle's diameter: a 2D Gaussian,
        // splatted separably on a window of ±3σ.
        var sigma = Math.Max(1.0, _settings.ParticleDiameter / 20);
        var half = (int)Math.Ceiling(3 * sigma);
        Span<double> wx = stackalloc double[2 * half + 1];
        Span<double> wy = stackalloc double[2 * half + 1];
        for (var a = 0; a < model.AtomCount; a++)
        {
            double ax = model.X[a], ay = model.Y[a], az = model.Z[a];
            var px = cx + r[0] * ax + r[1] * ay + r[2] * az;
            var py = cy + r[3] * ax + r[4] * ay + r[5] * az;
            var ix = (int)Math.Round(px);
            var iy = (int)Math.Round(py);
            for (var k = -half; k <= half; k++)
            {
                var dx = ix + k - px;
                var dy = iy + k - py;
                wx[k + half] = Math.Exp(-dx * dx / (2 * sigma * sigma));
                wy[k + half] = Math.Exp(-dy * dy / (2 * sigma * sigma));
            }
            for (var ky = -half; ky <= half; ky++)
            {
                var y = iy + ky;
                if ((uint)y >= (uint)n) continue;
                for (var kx = -half; kx <= half; kx++)
                {
                    var x = ix + kx;
                    if ((uint)x >= (uint)n) continue;
                    phase[y * n + x] += (float)(wy[ky + half] * wx[kx + half]);
                }
            }
        }
    }

    private static void AddContaminant(float[] phase, float[] amplitude, int n, Contaminant c, DeterministicRandom rng)
    {
        // An irregular blob: the radius wobbles with a few random harmonics of the polar angle.
        var harmonics = new (double amp, int order, double shift)[3];
        for (var h = 0; h < harmonics.Length; h++)
        {
            harmonics[h] = (rng.NextDouble(0.03, 0.15), h + 2, rng.NextDouble(0, 2 * Math.PI));
        }
        var strength = c.Dark ? rng.NextDouble(1.5, 3.0) : -rng.NextDouble(0.5, 1.0);
        var absorb = c.Dark ? rng.NextDouble(0.55, 0.8) : rng.NextDouble(1.05, 1.15);
        var extent = (int)Math.Ceiling(c.Radius * 1.5) + 2;
        for (var y = Math.Max(0, (int)c.Y - extent); y < Math.Min(n, (int)c.Y + extent); y++)
        {
            for (var x = Math.Max(0, (int)c.X - extent); x < Math.Min(n, (int)c.X + extent); x++)
            {
                double dx = x - c.X, dy = y - c.Y;
                var angle = Math.Atan2(dy, dx);
                var edge = c.Radius;
                foreach (var (amp, order, shift) in harmonics)
                {
                    edge *= 1 + amp * Math.Sin(order * angle + shift);
                }
                var inside = 1 / (1 + Math.Exp((Math.Sqrt(dx * dx + dy * dy) - edge) / 1.0));
                if (inside < 1e-4) continue;
                phase[y * n + x] += (float)(strength * inside);
                amplitude[y * n + x] *= (float)(1 + (absorb - 1) * inside);
            }
        }
    }

    private static float[] ApplyCtf(float[] phase, int n, Ctf ctf, double pixelSize)
    {
        // The FFT wants a power-of-two side: pad with the mean (no edge step for the CTF to ring on), then crop.
        var m = FftPlan.NextPowerOfTwo(n);
        var re = new float[m * m];
        var im = new float[m * m];
        if (m != n)
        {
            var mean = (float)phase.Average();
            Array.Fill(re, mean);
        }
        for (var y = 0; y < n; y++)
        {
            phase.AsSpan(y * n, n).CopyTo(re.AsSpan(y * m, n));
        }
        Fft2D.Forward(re, im, m, m);
        var frequencyStep = 1.0 / (m * pixelSize);
        Parallel.For(0, m, y =>
        {
            var ky = (y <= m / 2 ? y : y - m) * frequencyStep;
            for (var x = 0; x < m; x++)
            {
                var kx = (x <= m / 2 ? x : x - m) * frequencyStep;
                // The DC term carries the mean potential, which the amplitude terms already model: drop it.
                var value = y == 0 && x == 0 ? 0f : (float)ctf.Value(kx, ky);
                re[y * m + x] *= value;
                im[y * m + x] *= value;
            }
        });
        Fft2D.Inverse(re, im, m, m);
        var result = new float[n * n];
        var scale = 1.0f / ((float)m * m);
        for (var y = 0; y < n; y++)
        {
            for (var x = 0; x < n; x++)
            {
                result[y * n + x] = re[y * m + x] * scale;
            }
        }
        return result;
    }

    private static double StdInsideParticles(float[] image, int n, IReadOnlyList<SimulatedParticle> particles, double radius)
    {
        double sum = 0, sumSq = 0;
        long count = 0;
        var r = (int)Math.Ceiling(radius);
        foreach (var p in particles)
        {
            for (var y = Math.Max(0, (int)p.Y - r); y <= Math.Min(n - 1, (int)p.Y + r); y++)
            {
                for (var x = Math.Max(0, (int)p.X - r); x <= Math.Min(n - 1, (int)p.X + r); x++)
                {
                    if ((x - p.X) * (x - p.X) + (y - p.Y) * (y - p.Y) > radius * radius) continue;
                    double v = image[y * n + x];
                    sum += v;
                    sumSq += v * v;
                    count++;
                }
            }
        }
        if (count < 2) return 0;
        var mean = sum / count;
        return Math.Sqrt(Math.Max(0, sumSq / count - mean * mean));
    }

    private static float[] SmoothField(DeterministicRandom rng, int n, int grid, double amplitude)
    {
        var knots = new double[(grid + 1) * (grid + 1)];
        for (var i = 0; i < knots.Length; i++)
        {
            knots[i] = amplitude * rng.NextGaussian();
        }
        var field = new float[n * n];
        var cell = n / (double)grid;
        static double Smooth(double t) => (1 - Math.Cos(Math.PI * t)) / 2;
        for (var y = 0; y < n; y++)
        {
            var gy = Math.Min(grid - 1, (int)(y / cell));
            var ty = Smooth(y / cell - gy);
            for (var x = 0; x < n; x++)
            {
                var gx = Math.Min(grid - 1, (int)(x / cell));
                var tx = Smooth(x / cell - gx);
                var a = knots[gy * (grid + 1) + gx];
                var b = knots[gy * (grid + 1) + gx + 1];
                var c = knots[(gy + 1) * (grid + 1) + gx];
                var d = knots[(gy + 1) * (grid + 1) + gx + 1];
                field[y * n + x] = (float)(1 + (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty);
            }
        }
        return field;
    }
}
