namespace DeepEM.Classification;

/// <summary>
/// A particle image as classification compares it: the background (pixels outside the mask) brought to zero mean
/// and unit standard deviation, as RELION normalises particles, then the soft circular mask applied. Normalising on
/// the background rather than the whole box keeps a particle's own contrast: a strong particle stays strong, and
/// an empty box stays flat noise, which is what makes junk classes show as such.
/// </summary>
public static class ParticleNormalization
{
    /// <summary>Mask weight at radius <paramref name="r"/>: 1 inside, a cosine edge <see cref="ParticleGeometry.MaskEdge"/> px wide, 0 beyond the radius.</summary>
    public static double MaskWeight(double r, double radius)
    {
        var inner = radius - ParticleGeometry.MaskEdge;
        if (r <= inner) return 1;
        if (r >= radius) return 0;
        return 0.5 * (1 + Math.Cos(Math.PI * (r - inner) / ParticleGeometry.MaskEdge));
    }

    /// <summary>Normalises and masks one image in place. Returns false when the image is flat (nothing to classify).</summary>
    public static bool Apply(Span<float> image, ParticleGeometry geometry)
    {
        var n = geometry.Size;
        var c = geometry.Centre;
        double sum = 0, sumSq = 0, allSum = 0, allSq = 0;
        long count = 0;
        for (var y = 0; y < n; y++)
        {
            for (var x = 0; x < n; x++)
            {
                double v = image[y * n + x];
                allSum += v;
                allSq += v * v;
                if ((x - c) * (x - c) + (y - c) * (y - c) < geometry.MaskRadius * geometry.MaskRadius) continue;
                sum += v;
                sumSq += v * v;
                count++;
            }
        }
        // A mask that fills the box leaves too little background: fall back to the whole box.
        if (count < geometry.Pixels / 10)
        {
            sum = allSum;
            sumSq = allSq;
            count = geometry.Pixels;
        }
        var mean = sum / count;
        var variance = sumSq / count - mean * mean;
        if (!(variance > 1e-12)) return false;
        var scale = 1 / Math.Sqrt(variance);
        for (var y = 0; y < n; y++)
        {
            for (var x = 0; x < n; x++)
            {
                var r = Math.Sqrt((x - c) * (x - c) + (y - c) * (y - c));
                image[y * n + x] = (float)((image[y * n + x] - mean) * scale * MaskWeight(r, geometry.MaskRadius));
            }
        }
        return true;
    }
}
