namespace DeepEM.Classification.Internal;

/// <summary>
/// Rotation-invariant features of a centred particle: for each polar ring its mean, and the magnitudes of its angular
/// harmonics 1..FeatureOrders. Turning the particle only changes the harmonics' phases, so particles of one view
/// share features whatever their in-plane angle; k-means on them groups views before any alignment.
/// </summary>
internal static class Features
{
    public static void Compute(ReadOnlySpan<float> particle, ParticleGeometry geometry, PolarGrid grid, Span<float> features,
        float[] polar, float[] re, float[] im, float[] scratch)
    {
        grid.Sample(particle, geometry.Size, geometry.Centre, geometry.Centre, polar);
        grid.Spectrum(polar, re, im, scratch);
        var orders = geometry.FeatureOrders;
        var scale = 1f / grid.Samples;
        for (var r = 0; r < grid.Rings; r++)
        {
            var o = r * grid.Harmonics;
            features[r * (orders + 1)] = re[o] * scale;
            for (var m = 1; m <= orders; m++)
            {
                var h = Math.Min(m, grid.Harmonics - 1);
                features[r * (orders + 1) + m] = MathF.Sqrt(re[o + h] * re[o + h] + im[o + h] * im[o + h]) * scale;
            }
        }
    }

    /// <summary>z = Basis·(f − Mean).</summary>
    public static void Project(ReadOnlySpan<float> f, Steps.Projection projection, Span<float> z)
    {
        var n = projection.Features;
        for (var c = 0; c < projection.Components; c++)
        {
            var row = projection.Basis.AsSpan(c * n, n);
            double s = 0;
            for (var i = 0; i < n; i++) s += row[i] * (double)(f[i] - projection.Mean[i]);
            z[c] = (float)s;
        }
    }

    /// <summary>The nearest of <paramref name="clusters"/> centroids (ties to the lower index) and its squared distance.</summary>
    public static int Nearest(ReadOnlySpan<float> z, float[] centroids, int clusters, out double distance)
    {
        var d = z.Length;
        var best = -1;
        distance = double.PositiveInfinity;
        for (var k = 0; k < clusters; k++)
        {
            double s = 0;
            for (var i = 0; i < d; i++)
            {
                var v = z[i] - (double)centroids[k * d + i];
                s += v * v;
            }
            if (s < distance)
            {
                distance = s;
                best = k;
            }
        }
        return best;
    }
}

/// <summary>A particle's place in a deterministic sample: a uniform number from (seed, shard, index), the same on every node.</summary>
internal static class ParticleHash
{
    public static double Uniform(ulong seed, int shard, int index)
    {
        var z = seed ^ ((ulong)(uint)shard << 32) ^ (uint)index;
        // SplitMix64's finaliser.
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }
}
