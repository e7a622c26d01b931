using DeepEM.Imaging.Randomness;

namespace DeepEM.Classification.Internal;

/// <summary>
/// Initial centroids from a sample of projected features: k-means++ (each next centre drawn with probability
/// proportional to the squared distance to the nearest one so far), refined by Lloyd iterations on the sample;
/// of several such seedings the one with the least spread is kept. Deterministic for a seed.
/// </summary>
internal static class KMeansSeeding
{
    public static float[] Centroids(float[] points, int count, int d, int k, int restarts, ulong seed)
    {
        float[]? best = null;
        var bestInertia = double.PositiveInfinity;
        for (var attempt = 0; attempt < restarts; attempt++)
        {
            var rng = DeterministicRandom.ForStream(seed, (ulong)attempt);
            var centroids = PlusPlus(points, count, d, k, rng);
            var inertia = Lloyd(points, count, d, k, centroids, 50);
            if (inertia < bestInertia)
            {
                bestInertia = inertia;
                best = centroids;
            }
        }
        return best!;
    }

    private static float[] PlusPlus(float[] points, int count, int d, int k, DeterministicRandom rng)
    {
        var centroids = new float[k * d];
        var nearest = new double[count];
        Array.Fill(nearest, double.PositiveInfinity);
        var first = rng.NextInt(count);
        points.AsSpan(first * d, d).CopyTo(centroids.AsSpan(0, d));
        for (var c = 1; c < k; c++)
        {
            double total = 0;
            for (var i = 0; i < count; i++)
            {
                nearest[i] = Math.Min(nearest[i], Distance(points.AsSpan(i * d, d), centroids.AsSpan((c - 1) * d, d)));
                total += nearest[i];
            }
            var chosen = count - 1;
            if (total > 0)
            {
                var target = rng.NextDouble() * total;
                for (var i = 0; i < count; i++)
                {
                    target -= nearest[i];
                    if (target <= 0)
                    {
                        chosen = i;
                        break;
                    }
                }
            }
            else
            {
                chosen = rng.NextInt(count);
            }
            points.AsSpan(chosen * d, d).CopyTo(centroids.AsSpan(c * d, d));
        }
        return centroids;
    }

    /// <summary>Lloyd iterations in place; returns the final spread (sum of squared distances).</summary>
    private static double Lloyd(float[] points, int count, int d, int k, float[] centroids, int rounds)
    {
        var labels = new int[count];
        var inertia = double.PositiveInfinity;
        for (var round = 0; round < rounds; round++)
        {
            var changed = false;
            inertia = 0;
            for (var i = 0; i < count; i++)
            {
                var label = Features.Nearest(points.AsSpan(i * d, d), centroids, k, out var distance);
                changed |= label != labels[i] || round == 0;
                labels[i] = label;
                inertia += distance;
            }
            if (!changed) break;
            var sums = new double[k * d];
            var counts = new int[k];
            for (var i = 0; i < count; i++)
            {
                counts[labels[i]]++;
                for (var c = 0; c < d; c++) sums[labels[i] * d + c] += points[i * d + c];
            }
            for (var j = 0; j < k; j++)
            {
                if (counts[j] == 0) continue;
                for (var c = 0; c < d; c++) centroids[j * d + c] = (float)(sums[j * d + c] / counts[j]);
            }
        }
        return inertia;
    }

    private static double Distance(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double s = 0;
        for (var i = 0; i < a.Length; i++)
        {
            var v = a[i] - (double)b[i];
            s += v * v;
        }
        return s;
    }
}
