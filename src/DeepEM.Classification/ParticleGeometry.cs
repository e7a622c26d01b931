using DeepEM.Imaging.Fourier;

namespace DeepEM.Classification;

/// <summary>
/// How particle images are laid out and searched: square images of <see cref="Size"/> pixels (the binned box) with
/// the particle centred on pixel (Size/2, Size/2), a circular mask of <see cref="MaskRadius"/> pixels, polar rings
/// at radii 1..<see cref="Rings"/> with <see cref="AngularSamples"/> samples each, and integer shifts of at most
/// <see cref="MaxShift"/> pixels searched around the centre. Every shard and the run that reduces them use one value.
/// </summary>
public sealed record ParticleGeometry(int Size, double MaskRadius, int MaxShift, int AngularSamples, int FeatureOrders)
{
    /// <summary>Width of the cosine edge of the mask, pixels.</summary>
    public const double MaskEdge = 3;

    public int Pixels => Size * Size;

    public double Centre => Size / 2;

    /// <summary>Polar rings at radii 1, 2, ... up to the mask radius.</summary>
    public int Rings => Math.Max(1, (int)Math.Floor(MaskRadius));

    /// <summary>Features per particle: each ring's mean and the magnitudes of its angular harmonics 1..FeatureOrders.</summary>
    public int FeatureCount => Rings * (FeatureOrders + 1);

    /// <summary>Angular step of the rotational search, degrees.</summary>
    public double AngularStepDegrees => 360.0 / AngularSamples;

    /// <summary>
    /// The geometry for a binned box of <paramref name="size"/> pixels and a particle mask of <paramref name="maskDiameter"/>
    /// binned pixels. The angular sampling keeps the outermost ring's samples about 2 px apart (the averages are low
    /// resolution); shifts up to <paramref name="maxShift"/> px are searched.
    /// </summary>
    public static ParticleGeometry For(int size, double maskDiameter, int maxShift, int featureOrders = 8)
    {
        if (size < 8) throw new ArgumentOutOfRangeException(nameof(size), $"particle images of {size} px are too small to classify (at least 8)");
        if (maskDiameter < 4 || maskDiameter > size) throw new ArgumentOutOfRangeException(nameof(maskDiameter), $"mask diameter {maskDiameter:0.#} px must be 4..{size} px (the box)");
        if (maxShift < 0 || maxShift > size / 4) throw new ArgumentOutOfRangeException(nameof(maxShift), $"shift search of {maxShift} px must be 0..{size / 4} px (a quarter of the box)");
        var radius = maskDiameter / 2;
        var samples = Math.Clamp(FftPlan.NextPowerOfTwo((int)Math.Ceiling(Math.PI * radius)), 32, 256);
        return new ParticleGeometry(size, radius, maxShift, samples, featureOrders);
    }

    /// <summary>The shifts searched: integer (dx, dy) within a disc of radius <see cref="MaxShift"/>, nearest first.</summary>
    public IReadOnlyList<(int Dx, int Dy)> Shifts()
    {
        var list = new List<(int, int)>();
        for (var dy = -MaxShift; dy <= MaxShift; dy++)
        {
            for (var dx = -MaxShift; dx <= MaxShift; dx++)
            {
                if (dx * dx + dy * dy <= MaxShift * MaxShift) list.Add((dx, dy));
            }
        }
        return list.OrderBy(s => s.Item1 * s.Item1 + s.Item2 * s.Item2).ThenBy(s => s.Item2).ThenBy(s => s.Item1).ToList();
    }
}
