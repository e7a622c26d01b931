using DeepEM.Imaging.Fourier;

namespace DeepEM.Classification.Internal;

/// <summary>
/// Images in polar coordinates about a centre: ring r (radius r + 1 px) sampled at <c>Samples</c> angles
/// φ_j = 2πj/Samples, bilinearly. Each ring's Fourier series over the angle turns every rotation of the image into a
/// phase ramp, so one inverse FFT gives the correlation of two images at every rotation at once:
/// CC(t) = Σ_r w_r Σ_j P_r(j)·A_r(j − t), with w_r = radius (the area element).
/// Spectra keep harmonics 0..Samples/2 (the rings are real).
/// </summary>
internal sealed class PolarGrid
{
    private readonly double[] _cos;
    private readonly double[] _sin;

    public PolarGrid(ParticleGeometry geometry)
    {
        Rings = geometry.Rings;
        Samples = geometry.AngularSamples;
        Harmonics = Samples / 2 + 1;
        _cos = new double[Samples];
        _sin = new double[Samples];
        for (var j = 0; j < Samples; j++)
        {
            (_sin[j], _cos[j]) = Math.SinCos(2 * Math.PI * j / Samples);
        }
        Weights = Enumerable.Range(1, Rings).Select(r => (float)r).ToArray();
        Plan = FftPlan.For(Samples);
    }

    public int Rings { get; }

    public int Samples { get; }

    /// <summary>Harmonics kept per ring: 0..Samples/2.</summary>
    public int Harmonics { get; }

    public float[] Weights { get; }

    public FftPlan Plan { get; }

    public int SpectrumLength => Rings * Harmonics;

    /// <summary>Samples <paramref name="image"/> (n × n) on the rings about (cx, cy) into <paramref name="polar"/> (Rings × Samples).</summary>
    public void Sample(ReadOnlySpan<float> image, int n, double cx, double cy, Span<float> polar)
    {
        for (var r = 0; r < Rings; r++)
        {
            var radius = r + 1.0;
            var row = polar.Slice(r * Samples, Samples);
            for (var j = 0; j < Samples; j++)
            {
                row[j] = Resampling.Bilinear(image, n, cx + radius * _cos[j], cy + radius * _sin[j]);
            }
        }
    }

    /// <summary>
    /// Each ring's angular spectrum (harmonics 0..Samples/2) into <paramref name="re"/>/<paramref name="im"/> (Rings × Harmonics);
    /// returns the weighted squared norm Σ_r w_r Σ_j P_r(j)². <paramref name="scratch"/> holds 2 × Samples floats.
    /// </summary>
    public double Spectrum(ReadOnlySpan<float> polar, Span<float> re, Span<float> im, Span<float> scratch)
    {
        var bufRe = scratch[..Samples];
        var bufIm = scratch.Slice(Samples, Samples);
        double norm = 0;
        for (var r = 0; r < Rings; r++)
        {
            var ring = polar.Slice(r * Samples, Samples);
            double ringSq = 0;
            foreach (var v in ring) ringSq += (double)v * v;
            norm += Weights[r] * ringSq;
            ring.CopyTo(bufRe);
            bufIm.Clear();
            Plan.Forward(bufRe, bufIm);
            bufRe[..Harmonics].CopyTo(re.Slice(r * Harmonics, Harmonics));
            bufIm[..Harmonics].CopyTo(im.Slice(r * Harmonics, Harmonics));
        }
        return norm;
    }

    /// <summary>
    /// The rotational correlation CC(t), t = 0..Samples−1, of spectra P and A into <paramref name="cc"/>;
    /// <paramref name="scratch"/> holds 2 × Samples floats. The particle matches the reference turned by 2πt/Samples.
    /// </summary>
    public void Correlate(ReadOnlySpan<float> pRe, ReadOnlySpan<float> pIm, ReadOnlySpan<float> aRe, ReadOnlySpan<float> aIm, Span<float> cc, Span<float> scratch)
    {
        var gRe = scratch[..Samples];
        var gIm = scratch.Slice(Samples, Samples);
        gRe.Clear();
        gIm.Clear();
        var h = Harmonics;
        for (var r = 0; r < Rings; r++)
        {
            var w = Weights[r];
            var o = r * h;
            for (var m = 0; m < h; m++)
            {
                // P · conj(A)
                float pr = pRe[o + m], pi = pIm[o + m], ar = aRe[o + m], ai = aIm[o + m];
                gRe[m] += w * (pr * ar + pi * ai);
                gIm[m] += w * (pi * ar - pr * ai);
            }
        }
        // Hermitian completion: G(N − m) = conj(G(m)).
        for (var m = 1; m < Samples / 2; m++)
        {
            gRe[Samples - m] = gRe[m];
            gIm[Samples - m] = -gIm[m];
        }
        gIm[0] = 0;
        gIm[Samples / 2] = 0;
        Plan.Inverse(gRe, gIm);
        var scale = 1f / Samples;
        for (var t = 0; t < Samples; t++) cc[t] = gRe[t] * scale;
    }
}
