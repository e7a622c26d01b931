using System.Collections.Concurrent;
using System.Numerics;

namespace DeepEM.Imaging.Fourier;

/// <summary>
/// Complex FFT of one power-of-two length on split real/imaginary float32 arrays: iterative radix-2,
/// decimation in time, with twiddle factors laid out contiguously per stage so that each butterfly stage is
/// a SIMD loop. Unscaled in both directions (forward then inverse multiplies by N).
/// Plans are immutable and shared between threads (<see cref="For"/>).
/// </summary>
public sealed class FftPlan
{
    private static readonly ConcurrentDictionary<int, FftPlan> Cache = new();

    private readonly int[] _bitReverse;
    // Stage s (butterfly span 2^(s+1), half-span h = 2^s) keeps its h twiddles at [h - 1, 2h - 1).
    private readonly float[] _twiddleRe;
    private readonly float[] _twiddleIm;

    private FftPlan(int length)
    {
        Length = length;
        var bits = BitOperations.Log2((uint)length);
        _bitReverse = new int[length];
        for (var i = 0; i < length; i++)
        {
            var r = 0;
            for (var b = 0; b < bits; b++)
            {
                r |= ((i >> b) & 1) << (bits - 1 - b);
            }
            _bitReverse[i] = r;
        }
        _twiddleRe = new float[Math.Max(1, length - 1)];
        _twiddleIm = new float[Math.Max(1, length - 1)];
        for (var half = 1; half < length; half <<= 1)
        {
            for (var j = 0; j < half; j++)
            {
                // Computed in float64 so that long transforms keep float32 accuracy.
                var angle = -Math.PI * j / half;
                _twiddleRe[half - 1 + j] = (float)Math.Cos(angle);
                _twiddleIm[half - 1 + j] = (float)Math.Sin(angle);
            }
        }
    }

    public int Length { get; }

    public static bool IsPowerOfTwo(int n) => n > 0 && (n & (n - 1)) == 0;

    public static int NextPowerOfTwo(int n) => n <= 1 ? 1 : (int)BitOperations.RoundUpToPowerOf2((uint)n);

    public static FftPlan For(int length)
    {
        if (!IsPowerOfTwo(length))
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"FFT length {length} is not a power of two");
        }
        return Cache.GetOrAdd(length, n => new FftPlan(n));
    }

    /// <summary>Forward transform, X[k] = Σ x[n]·e^(−2πikn/N), in place.</summary>
    public void Forward(Span<float> re, Span<float> im) => Transform(re, im, inverse: false);

    /// <summary>Inverse transform without the 1/N factor, in place.</summary>
    public void Inverse(Span<float> re, Span<float> im) => Transform(re, im, inverse: true);

    private void Transform(Span<float> re, Span<float> im, bool inverse)
    {
        var n = Length;
        if (re.Length != n || im.Length != n)
        {
            throw new ArgumentException($"FFT of length {n} given arrays of {re.Length} and {im.Length}");
        }
        for (var i = 0; i < n; i++)
        {
            var j = _bitReverse[i];
            if (j > i)
            {
                (re[i], re[j]) = (re[j], re[i]);
                (im[i], im[j]) = (im[j], im[i]);
            }
        }
        var sign = inverse ? -1f : 1f;
        var width = Vector<float>.Count;
        for (var half = 1; half < n; half <<= 1)
        {
            var twRe = _twiddleRe.AsSpan(half - 1, half);
            var twIm = _twiddleIm.AsSpan(half - 1, half);
            var span = half << 1;
            for (var start = 0; start < n; start += span)
            {
                var aRe = re.Slice(start, half);
                var aIm = im.Slice(start, half);
                var bRe = re.Slice(start + half, half);
                var bIm = im.Slice(start + half, half);
                var j = 0;
                if (half >= width)
                {
                    var vs = new Vector<float>(sign);
                    for (; j <= half - width; j += width)
                    {
                        var wr = new Vector<float>(twRe[j..]);
                        var wi = new Vector<float>(twIm[j..]) * vs;
                        var br = new Vector<float>(bRe[j..]);
                        var bi = new Vector<float>(bIm[j..]);
                        var tr = br * wr - bi * wi;
                        var ti = br * wi + bi * wr;
                        var ar = new Vector<float>(aRe[j..]);
                        var ai = new Vector<float>(aIm[j..]);
                        (ar - tr).CopyTo(bRe[j..]);
                        (ai - ti).CopyTo(bIm[j..]);
                        (ar + tr).CopyTo(aRe[j..]);
                        (ai + ti).CopyTo(aIm[j..]);
                    }
                }
                for (; j < half; j++)
                {
                    var wr = twRe[j];
                    var wi = sign * twIm[j];
                    var tr = bRe[j] * wr - bIm[j] * wi;
                    var ti = bRe[j] * wi + bIm[j] * wr;
                    bRe[j] = aRe[j] - tr;
                    bIm[j] = aIm[j] - ti;
                    aRe[j] += tr;
                    aIm[j] += ti;
                }
            }
        }
    }
}
