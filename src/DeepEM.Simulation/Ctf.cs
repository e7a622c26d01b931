namespace DeepEM.Simulation;

/// <summary>
/// The contrast transfer function of a transmission electron microscope, weak-phase approximation:
/// CTF(k) = −(√(1−A²)·sin χ + A·cos χ)·exp(−B k²/4), χ(k) = π λ Δf k² − ½ π Cs λ³ k⁴,
/// with astigmatic defocus Δf(θ). Underfocus is positive Δf, which makes particles dark at low frequency.
/// </summary>
public sealed record Ctf(
    double DefocusUAngstrom,
    double DefocusVAngstrom,
    double AstigmatismAngleRad,
    double VoltageKv,
    double SphericalAberrationMm,
    double AmplitudeContrast,
    double BFactor)
{
    /// <summary>Relativistic electron wavelength in Å.</summary>
    public double WavelengthAngstrom
    {
        get
        {
            var v = VoltageKv * 1e3;
            return 12.2643247 / Math.Sqrt(v * (1 + 0.978466e-6 * v));
        }
    }

    /// <summary>CTF value at spatial frequency (kx, ky) in 1/Å.</summary>
    public double Value(double kx, double ky)
    {
        var k2 = kx * kx + ky * ky;
        // cos 2(θ − θa) from the frequency components directly, without atan2: this runs once per pixel.
        var cos2 = k2 > 0 ? (kx * kx - ky * ky) / k2 : 1;
        var sin2 = k2 > 0 ? 2 * kx * ky / k2 : 0;
        var astig = cos2 * Math.Cos(2 * AstigmatismAngleRad) + sin2 * Math.Sin(2 * AstigmatismAngleRad);
        var defocus = 0.5 * (DefocusUAngstrom + DefocusVAngstrom)
                      + 0.5 * (DefocusUAngstrom - DefocusVAngstrom) * astig;
        var lambda = WavelengthAngstrom;
        var cs = SphericalAberrationMm * 1e7;
        var chi = Math.PI * lambda * defocus * k2 - 0.5 * Math.PI * cs * lambda * lambda * lambda * k2 * k2;
        var a = AmplitudeContrast;
        var (sin, cos) = Math.SinCos(chi);
        var ctf = -(Math.Sqrt(1 - a * a) * sin + a * cos);
        return ctf * Math.Exp(-BFactor * k2 / 4);
    }
}
