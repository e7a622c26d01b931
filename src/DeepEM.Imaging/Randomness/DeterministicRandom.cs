namespace DeepEM.Imaging.Randomness;

/// <summary>
/// xoshiro256** seeded through SplitMix64: a small generator whose output is fixed by its seed on every
/// platform and every .NET version (System.Random promises neither), so that "same seed, same bytes" holds
/// for simulated micrographs, weight initialisation and sampled negatives.
/// </summary>
public sealed class DeterministicRandom
{
    private ulong _s0, _s1, _s2, _s3;
    private double? _spareGaussian;

    public DeterministicRandom(ulong seed)
    {
        var sm = seed;
        _s0 = SplitMix(ref sm);
        _s1 = SplitMix(ref sm);
        _s2 = SplitMix(ref sm);
        _s3 = SplitMix(ref sm);
    }

    /// <summary>A generator for stream <paramref name="stream"/> of <paramref name="seed"/>, independent of the others.</summary>
    public static DeterministicRandom ForStream(ulong seed, ulong stream)
    {
        var mixed = seed ^ (0x9E3779B97F4A7C15UL * (stream + 1));
        return new DeterministicRandom(SplitMix(ref mixed));
    }

    private static ulong SplitMix(ref ulong state)
    {
        var z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        var result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        var t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public double NextDouble(double min, double max) => min + (max - min) * NextDouble();

    /// <summary>Uniform integer in [0, maxExclusive), without modulo bias.</summary>
    public int NextInt(int maxExclusive)
    {
        if (maxExclusive <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(maxExclusive));
        }
        return (int)Math.BigMul(NextUInt64(), (ulong)maxExclusive, out _);
    }

    /// <summary>Standard normal deviate (polar Box–Muller).</summary>
    public double NextGaussian()
    {
        if (_spareGaussian is { } spare)
        {
            _spareGaussian = null;
            return spare;
        }
        double u, v, s;
        do
        {
            u = 2 * NextDouble() - 1;
            v = 2 * NextDouble() - 1;
            s = u * u + v * v;
        }
        while (s >= 1 || s == 0);
        var f = Math.Sqrt(-2 * Math.Log(s) / s);
        _spareGaussian = v * f;
        return u * f;
    }

    /// <summary>
    /// Poisson deviate: exact (Knuth's product method) for small means, normal approximation with continuity
    /// correction above 30 counts, where the two differ by far less than the shot noise itself.
    /// </summary>
    public int NextPoisson(double mean)
    {
        if (mean <= 0)
        {
            return 0;
        }
        if (mean < 30)
        {
            var limit = Math.Exp(-mean);
            var k = 0;
            var p = NextDouble();
            while (p > limit)
            {
                k++;
                p *= NextDouble();
            }
            return k;
        }
        var x = Math.Round(mean + Math.Sqrt(mean) * NextGaussian());
        return x < 0 ? 0 : (int)x;
    }

    /// <summary>A uniformly distributed rotation, as a row-major 3×3 matrix (from a random unit quaternion).</summary>
    public double[] NextRotation()
    {
        double q0 = NextGaussian(), q1 = NextGaussian(), q2 = NextGaussian(), q3 = NextGaussian();
        var n = Math.Sqrt(q0 * q0 + q1 * q1 + q2 * q2 + q3 * q3);
        q0 /= n; q1 /= n; q2 /= n; q3 /= n;
        return
        [
            1 - 2 * (q2 * q2 + q3 * q3), 2 * (q1 * q2 - q0 * q3), 2 * (q1 * q3 + q0 * q2),
            2 * (q1 * q2 + q0 * q3), 1 - 2 * (q1 * q1 + q3 * q3), 2 * (q2 * q3 - q0 * q1),
            2 * (q1 * q3 - q0 * q2), 2 * (q2 * q3 + q0 * q1), 1 - 2 * (q1 * q1 + q2 * q2),
        ];
    }
}
