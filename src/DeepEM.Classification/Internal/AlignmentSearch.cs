namespace DeepEM.Classification.Internal;

/// <summary>The best match of one particle: class, angle (radians), shift (pixels) and normalised correlation.</summary>
internal readonly record struct Alignment(int Class, double Psi, int Dx, int Dy, double Score);

/// <summary>The class averages as the search uses them: each one's polar spectrum about the centre and its norm.</summary>
internal sealed class ReferenceSpectra
{
    public ReferenceSpectra(PolarGrid grid, ParticleGeometry geometry, float[] references, int classes)
    {
        Classes = classes;
        var length = grid.SpectrumLength;
        Re = new float[classes * length];
        Im = new float[classes * length];
        Norms = new double[classes];
        var polar = new float[grid.Rings * grid.Samples];
        var scratch = new float[2 * grid.Samples];
        for (var k = 0; k < classes; k++)
        {
            var image = references.AsSpan(k * geometry.Pixels, geometry.Pixels);
            grid.Sample(image, geometry.Size, geometry.Centre, geometry.Centre, polar);
            Norms[k] = Math.Sqrt(grid.Spectrum(polar, Re.AsSpan(k * length, length), Im.AsSpan(k * length, length), scratch));
        }
    }

    public int Classes { get; }

    public float[] Re { get; }

    public float[] Im { get; }

    public double[] Norms { get; }
}

/// <summary>
/// Exhaustive search of one particle against the class averages: for every shift of the grid, the particle is
/// sampled in polar coordinates about the shifted centre, and its rotational correlation with every class (one
/// inverse FFT each) gives the best angle; the angle is refined by a parabola through the peak. The particle goes
/// where it is nearest in the least-squares sense, ‖P − A‖² = ‖P‖² − 2·CC + ‖A‖² (the maximum-likelihood choice for
/// Gaussian noise, as the particles are normalised to unit background noise): a strong average must be matched by a
/// strong particle, and a particle with no signal goes to the flattest class, where empty-ice picks collect. The
/// score reported is the correlation normalised by both norms (between −1 and 1). One instance per thread: it
/// holds the scratch buffers.
/// </summary>
internal sealed class AlignmentSearch(PolarGrid grid, ParticleGeometry geometry)
{
    private readonly IReadOnlyList<(int Dx, int Dy)> _shifts = geometry.Shifts();
    private readonly float[] _polar = new float[grid.Rings * grid.Samples];
    private readonly float[] _re = new float[grid.SpectrumLength];
    private readonly float[] _im = new float[grid.SpectrumLength];
    private readonly float[] _cc = new float[grid.Samples];
    private readonly float[] _scratch = new float[2 * grid.Samples];

    /// <summary>Best class, angle and shift; <paramref name="onlyClass"/> ≥ 0 restricts the search to that class.</summary>
    public Alignment Best(ReadOnlySpan<float> particle, ReferenceSpectra references, int onlyClass = -1)
    {
        var n = geometry.Size;
        var c = geometry.Centre;
        var length = grid.SpectrumLength;
        var samples = grid.Samples;
        var best = new Alignment(-1, 0, 0, 0, 0);
        var bestObjective = double.NegativeInfinity;
        foreach (var (dx, dy) in _shifts)
        {
            grid.Sample(particle, n, c + dx, c + dy, _polar);
            var normSquared = grid.Spectrum(_polar, _re, _im, _scratch);
            if (normSquared <= 0) continue;
            var norm = Math.Sqrt(normSquared);
            var first = onlyClass >= 0 ? onlyClass : 0;
            var last = onlyClass >= 0 ? onlyClass : references.Classes - 1;
            for (var k = first; k <= last; k++)
            {
                var refNorm = references.Norms[k];
                if (refNorm <= 0) continue;
                grid.Correlate(_re, _im, references.Re.AsSpan(k * length, length), references.Im.AsSpan(k * length, length), _cc, _scratch);
                var peak = 0;
                for (var t = 1; t < samples; t++)
                {
                    if (_cc[t] > _cc[peak]) peak = t;
                }
                // Maximise 2·CC − ‖A‖² − ‖P‖² (minus the squared distance); ties keep the earlier (smaller shift, lower class).
                var objective = 2.0 * _cc[peak] - refNorm * refNorm - normSquared;
                if (objective <= bestObjective) continue;
                bestObjective = objective;
                // Parabola through the peak and its neighbours (the correlation is periodic in the angle).
                double left = _cc[(peak + samples - 1) % samples], centre = _cc[peak], right = _cc[(peak + 1) % samples];
                var curvature = left - 2 * centre + right;
                var offset = curvature < 0 ? Math.Clamp(0.5 * (left - right) / curvature, -0.5, 0.5) : 0;
                var psi = 2 * Math.PI * (peak + offset) / samples;
                if (psi < 0) psi += 2 * Math.PI;
                best = new Alignment(k, psi, dx, dy, _cc[peak] / (norm * refNorm));
            }
        }
        return best;
    }
}
