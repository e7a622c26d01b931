using DeepEM.Classification.Internal;
using DeepEM.Imaging.Randomness;

namespace DeepEM.Classification.Tests;

/// <summary>The polar search: its FFT correlation against a float64 direct sum, and known turns and shifts recovered.</summary>
public sealed class AlignmentTests
{
    private static readonly ParticleGeometry Geometry = ParticleGeometry.For(32, 26, 3);

    /// <summary>An asymmetric test particle: three Gaussian blobs of different sizes and signs, masked.</summary>
    internal static float[] Particle(double turn = 0, double dx = 0, double dy = 0)
    {
        var n = Geometry.Size;
        var c = Geometry.Centre;
        (double X, double Y, double Sigma, double Amplitude)[] blobs = [(5, 1, 2.5, 1.0), (-3, 4, 1.8, -0.7), (-2, -6, 3.0, 0.5)];
        var (sin, cos) = Math.SinCos(turn);
        var image = new float[n * n];
        for (var y = 0; y < n; y++)
        {
            for (var x = 0; x < n; x++)
            {
                double v = 0;
                foreach (var b in blobs)
                {
                    // The blob turned by `turn` about the centre, then moved by (dx, dy).
                    var bx = c + cos * b.X - sin * b.Y + dx;
                    var by = c + sin * b.X + cos * b.Y + dy;
                    v += b.Amplitude * Math.Exp(-((x - bx) * (x - bx) + (y - by) * (y - by)) / (2 * b.Sigma * b.Sigma));
                }
                image[y * n + x] = (float)v;
            }
        }
        return image;
    }

    [Fact]
    public void Rotational_correlation_by_fft_matches_a_float64_direct_sum()
    {
        var grid = new PolarGrid(Geometry);
        var a = Particle();
        var p = Particle(turn: 1.0, dx: 1, dy: -2);
        var polarA = new float[grid.Rings * grid.Samples];
        var polarP = new float[grid.Rings * grid.Samples];
        grid.Sample(a, Geometry.Size, Geometry.Centre, Geometry.Centre, polarA);
        grid.Sample(p, Geometry.Size, Geometry.Centre + 1, Geometry.Centre - 2, polarP);
        var (aRe, aIm, pRe, pIm) = (new float[grid.SpectrumLength], new float[grid.SpectrumLength], new float[grid.SpectrumLength], new float[grid.SpectrumLength]);
        var scratch = new float[2 * grid.Samples];
        var normA = grid.Spectrum(polarA, aRe, aIm, scratch);
        grid.Spectrum(polarP, pRe, pIm, scratch);
        var cc = new float[grid.Samples];
        grid.Correlate(pRe, pIm, aRe, aIm, cc, scratch);

        var reference = new double[grid.Samples];
        double directNorm = 0;
        for (var r = 0; r < grid.Rings; r++)
        {
            for (var j = 0; j < grid.Samples; j++) directNorm += (r + 1.0) * polarA[r * grid.Samples + j] * (double)polarA[r * grid.Samples + j];
        }
        for (var t = 0; t < grid.Samples; t++)
        {
            for (var r = 0; r < grid.Rings; r++)
            {
                for (var j = 0; j < grid.Samples; j++)
                {
                    reference[t] += (r + 1.0) * polarP[r * grid.Samples + j] * (double)polarA[r * grid.Samples + (j - t + grid.Samples) % grid.Samples];
                }
            }
        }
        var scale = reference.Max(Math.Abs);
        Assert.True(scale > 1, $"the test particles correlate too weakly ({scale})");
        for (var t = 0; t < grid.Samples; t++) Assert.True(Math.Abs(cc[t] - reference[t]) < 1e-4 * scale, $"t={t}: {cc[t]} against {reference[t]}");
        Assert.Equal(directNorm, normA, 1e-5 * directNorm);
        // The peak is where the particle was turned: 1.0 rad.
        var peak = Array.IndexOf(reference, reference.Max());
        Assert.InRange(peak * 2 * Math.PI / grid.Samples, 1.0 - Math.PI / grid.Samples, 1.0 + Math.PI / grid.Samples);
    }

    [Theory]
    [InlineData(0.0, 0, 0)]
    [InlineData(0.7, 2, -1)]
    [InlineData(2.5, -3, 0)]
    [InlineData(4.0, 1, 2)]
    public void A_turned_and_moved_particle_is_found_at_its_angle_and_shift_among_three_classes(double turn, int dx, int dy)
    {
        var grid = new PolarGrid(Geometry);
        var pixels = Geometry.Pixels;
        // Three classes: the particle's shape, its mirror image and a blob; the particle has noise added.
        var references = new float[3 * pixels];
        Particle().CopyTo(references, 0);
        var mirror = Particle();
        for (var y = 0; y < Geometry.Size; y++) Array.Reverse(mirror, y * Geometry.Size, Geometry.Size);
        mirror.CopyTo(references, pixels);
        for (var i = 0; i < pixels; i++) references[2 * pixels + i] = (float)Math.Exp(-(Math.Pow(i % 32 - 16, 2) + Math.Pow(i / 32 - 16, 2)) / 30);
        var spectra = new ReferenceSpectra(grid, Geometry, references, 3);
        var particle = Particle(turn, dx, dy);
        var rng = new DeterministicRandom(7);
        for (var i = 0; i < pixels; i++) particle[i] += (float)(0.05 * rng.NextGaussian());

        var found = new AlignmentSearch(grid, Geometry).Best(particle, spectra);
        Assert.Equal(0, found.Class);
        Assert.Equal((dx, dy), (found.Dx, found.Dy));
        var error = Math.Abs(Math.IEEERemainder(found.Psi - turn, 2 * Math.PI));
        Assert.True(error < 0.5 * Math.PI / 180 * Geometry.AngularStepDegrees, $"angle {found.Psi:0.000} for {turn}: off by {error * 180 / Math.PI:0.00} deg");
        Assert.InRange(found.Score, 0.9, 1.0);

        // Aligning it back (turn by −psi, shift by −(dx, dy)) gives the reference again, up to interpolation and the noise
        // (σ 0.05 a pixel: about 0.97 measured).
        var aligned = new float[pixels];
        Resampling.RotateShift(particle, Geometry.Size, found.Psi, found.Dx, found.Dy, aligned);
        double dot = 0, na = 0, nr = 0;
        for (var i = 0; i < pixels; i++)
        {
            dot += aligned[i] * (double)references[i];
            na += aligned[i] * (double)aligned[i];
            nr += references[i] * (double)references[i];
        }
        Assert.True(dot / Math.Sqrt(na * nr) > 0.95, $"aligned particle correlates {dot / Math.Sqrt(na * nr):0.000} with its class");
    }

    [Fact]
    public void Features_do_not_change_when_the_particle_turns_by_a_quarter()
    {
        var grid = new PolarGrid(Geometry);
        var f = Geometry.FeatureCount;
        var buffers = (new float[grid.Rings * grid.Samples], new float[grid.SpectrumLength], new float[grid.SpectrumLength], new float[2 * grid.Samples]);
        var image = Particle();
        // A quarter turn by moving pixels (no interpolation): (x, y) → (c − (y − c), c + (x − c)).
        var n = Geometry.Size;
        var c = (int)Geometry.Centre;
        var turned = new float[n * n];
        for (var y = 0; y < n; y++)
        {
            for (var x = 0; x < n; x++)
            {
                var (tx, ty) = (c - (y - c), c + (x - c));
                if ((uint)tx < n && (uint)ty < n) turned[ty * n + tx] = image[y * n + x];
            }
        }
        var a = new float[f];
        var b = new float[f];
        Features.Compute(image, Geometry, grid, a, buffers.Item1, buffers.Item2, buffers.Item3, buffers.Item4);
        Features.Compute(turned, Geometry, grid, b, buffers.Item1, buffers.Item2, buffers.Item3, buffers.Item4);
        var scale = a.Max(Math.Abs);
        Assert.True(scale > 0.1);
        for (var i = 0; i < f; i++) Assert.True(Math.Abs(a[i] - b[i]) < 1e-4 * scale, $"feature {i}: {a[i]} and {b[i]}");
        // The features of a different particle differ.
        var other = new float[f];
        Features.Compute(Particle(0, 3, 0), Geometry, grid, other, buffers.Item1, buffers.Item2, buffers.Item3, buffers.Item4);
        Assert.True(a.Zip(other, (u, v) => Math.Abs(u - v)).Max() > 0.05 * scale);
    }
}
