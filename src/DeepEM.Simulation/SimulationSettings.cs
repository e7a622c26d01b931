namespace DeepEM.Simulation;

/// <summary>
/// What a simulated dataset looks like. The defaults give a 1024² micrograph at 4 Å/px (as if binned from a
/// K3 or Falcon frame) holding a ~150 Å complex that fills about 60% of a 64 px box, at 300 kV, 1.2–2.8 µm
/// defocus, with the shot noise of a routine dose: the particles are faint but visible after binning, as in
/// real data that a picker is trained on.
/// </summary>
public sealed record SimulationSettings
{
    /// <summary>Width and height of each micrograph in pixels.</summary>
    public int Size { get; init; } = 1024;

    /// <summary>Particle box size in pixels; the particle's diameter is <see cref="DiameterFraction"/> of it.</summary>
    public int BoxSize { get; init; } = 64;

    public double DiameterFraction { get; init; } = 0.6;

    public double PixelSizeAngstrom { get; init; } = 4.0;

    /// <summary>Particles per micrograph; null picks a density of about 12% area coverage.</summary>
    public int? ParticlesPerMicrograph { get; init; }

    /// <summary>Fraction of particles placed touching a neighbour (0.75–1.0 diameters apart).</summary>
    public double TouchingFraction { get; init; } = 0.1;

    /// <summary>Electrons per pixel: sets the shot noise.</summary>
    public double DosePerPixel { get; init; } = 40;

    /// <summary>Signal variance over shot-noise variance inside the particles, after the CTF.</summary>
    public double Snr { get; init; } = 0.25;

    public double DefocusMinMicrons { get; init; } = 1.2;

    public double DefocusMaxMicrons { get; init; } = 2.8;

    public double AstigmatismMaxMicrons { get; init; } = 0.08;

    public double VoltageKv { get; init; } = 300;

    public double SphericalAberrationMm { get; init; } = 2.7;

    public double AmplitudeContrast { get; init; } = 0.1;

    /// <summary>Envelope B-factor in Å² (the CTF's damping at high frequency).</summary>
    public double BFactor { get; init; } = 150;

    /// <summary>Probability that a micrograph shows a carbon edge (covering 15–35% of it).</summary>
    public double CarbonProbability { get; init; } = 0.5;

    /// <summary>Mean number of contaminants (dark ice crystals, bright thin spots) per micrograph.</summary>
    public double ContaminantsPerMicrograph { get; init; } = 2.5;

    /// <summary>Relative amplitude of the slowly varying ice-thickness background.</summary>
    public double IceVariation { get; init; } = 0.04;

    /// <summary>
    /// Fraction of particles of a second kind: a stack of four seven-membered rings (like the 20S proteasome), whose
    /// views (rings, striped barrels) differ from the first kind's. 0 (the default) simulates one kind only.
    /// </summary>
    public double SecondKindFraction { get; init; }

    /// <summary>Mean number of particle-sized dark blobs (aggregates, ice fragments) per micrograph; 0 by default.</summary>
    public double JunkPerMicrograph { get; init; }

    public double ParticleDiameter => BoxSize * DiameterFraction;

    public void Validate()
    {
        if (Size < 64 || Size > 16384) throw new ArgumentOutOfRangeException(nameof(Size), $"size {Size} must be 64..16384 px");
        if (BoxSize < 8 || BoxSize > Size / 2) throw new ArgumentOutOfRangeException(nameof(BoxSize), $"box {BoxSize} must be 8..{Size / 2} px");
        if (DosePerPixel <= 0) throw new ArgumentOutOfRangeException(nameof(DosePerPixel));
        if (Snr <= 0) throw new ArgumentOutOfRangeException(nameof(Snr));
        if (PixelSizeAngstrom <= 0) throw new ArgumentOutOfRangeException(nameof(PixelSizeAngstrom));
        if (SecondKindFraction is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(SecondKindFraction), $"{SecondKindFraction} must be 0..1");
        if (JunkPerMicrograph < 0) throw new ArgumentOutOfRangeException(nameof(JunkPerMicrograph));
    }
}
