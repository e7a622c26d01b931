using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DeepEM.Imaging.Preprocessing;

/// <summary>
/// Integer binning by block mean: output pixel (x, y) is the mean of the factor×factor input block whose
/// top-left pixel is (x·factor, y·factor). A remainder of fewer than <c>factor</c> columns or rows at the
/// right and bottom edges is dropped, so binned pixel centres map back to original pixels exactly:
/// original = (binned + 0.5)·factor − 0.5.
/// Block mean (rather than Fourier cropping) keeps the operation local, so tiles of a huge micrograph
/// bin identically to the whole, and it cannot ring around carbon edges or contaminants.
/// </summary>
public static class Binning
{
    public static Image2D BlockMean(Image2D source, int factor)
    {
        var (w, h) = BinnedSize(source.Width, source.Height, factor);
        if (factor == 1)
        {
            return source.Clone();
        }
        var result = new Image2D(w, h);
        var scale = 1.0f / (factor * factor);
        Parallel.For(0, h, y =>
        {
            Span<float> acc = w <= 4096 ? stackalloc float[w] : new float[w];
            acc.Clear();
            for (var dy = 0; dy < factor; dy++) AddRow(source.Row(y * factor + dy), acc, factor);
            Finish(acc, result.Row(y), scale);
        });
        return result;
    }

    /// <summary>
    /// Adds one source row's blocks of <paramref name="factor"/> pixels into the output row's sums: acc[x] += (((0 + v₀) + v₁)
    /// + …), the pixels of a block in order. Factors 2 and 4 go sixteen blocks at a time on AVX-512, each lane with the very
    /// additions of the scalar loop, so the same to the bit (tested); binning was about a tenth of reading a micrograph.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddRow(ReadOnlySpan<float> row, Span<float> acc, int factor)
    {
        var x = factor switch
        {
            2 or 4 when Avx512F.IsSupported && Vector512.IsHardwareAccelerated => AddRowWide(row, acc, factor),
            _ => 0,
        };
        for (; x < acc.Length; x++)
        {
            var s = 0f;
            foreach (var v in row.Slice(x * factor, factor)) s += v;
            acc[x] += s;
        }
    }

    /// <summary>
    /// Blocks of 2 or 4 pixels, sixteen at a time: pixel j of each of sixteen blocks gathered into one vector by two-source
    /// permutes (for 4, from two pairs of vectors, the halves joined), then summed in order. Returns the blocks done.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int AddRowWide(ReadOnlySpan<float> row, Span<float> acc, int factor)
    {
        const int blocks = 16;
        var x = 0;
        fixed (float* src = row)
        fixed (float* dst = acc)
        {
            if (factor == 2)
            {
                var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                var odd = even + Vector512<int>.One;
                for (; x + blocks <= acc.Length; x += blocks)
                {
                    var p = src + 2 * x;
                    var (lo, hi) = (Avx512F.LoadVector512(p), Avx512F.LoadVector512(p + 16));
                    var s = (Vector512<float>.Zero + Avx512F.PermuteVar16x32x2(lo, even, hi)) + Avx512F.PermuteVar16x32x2(lo, odd, hi);
                    Avx512F.Store(dst + x, Avx512F.LoadVector512(dst + x) + s);
                }
                return x;
            }
            // Factor 4: lanes 0–7 from the first 32 pixels (blocks 0–7), lanes 8–15 from the next 32 (blocks 8–15).
            var first = Vector512.Create(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
            var low = Vector512.Create(-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0).AsSingle();
            for (; x + blocks <= acc.Length; x += blocks)
            {
                var p = src + 4 * x;
                var (a, b, c, d) = (Avx512F.LoadVector512(p), Avx512F.LoadVector512(p + 16), Avx512F.LoadVector512(p + 32), Avx512F.LoadVector512(p + 48));
                var s = Vector512<float>.Zero;
                for (var j = 0; j < 4; j++)
                {
                    var index = first + Vector512.Create(j);
                    s += Vector512.ConditionalSelect(low, Avx512F.PermuteVar16x32x2(a, index, b), Avx512F.PermuteVar16x32x2(c, index, d));
                }
                Avx512F.Store(dst + x, Avx512F.LoadVector512(dst + x) + s);
            }
        }
        return x;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Finish(ReadOnlySpan<float> acc, Span<float> destination, float scale)
    {
        var x = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var v = Vector256.Create(scale);
            for (; x + Vector256<float>.Count <= acc.Length; x += Vector256<float>.Count)
            {
                (Vector256.Create(acc.Slice(x, Vector256<float>.Count)) * v).CopyTo(destination.Slice(x, Vector256<float>.Count));
            }
        }
        for (; x < acc.Length; x++) destination[x] = acc[x] * scale;
    }

    /// <summary>
    /// Binning row by row as the rows are read, so that a micrograph never has to be in memory whole: the same sums in
    /// the same order as <see cref="BlockMean"/>, so the same result to the bit. Feed the source rows in order.
    /// </summary>
    public sealed class RowBinner
    {
        private readonly int _factor;
        private readonly float[] _acc;
        private readonly float _scale;

        public RowBinner(int sourceWidth, int sourceHeight, int factor)
        {
            var (w, h) = BinnedSize(sourceWidth, sourceHeight, factor);
            _factor = factor;
            _acc = new float[w];
            _scale = 1.0f / (factor * factor);
            Result = new Image2D(w, h);
        }

        /// <summary>The binned image, complete once every source row was added.</summary>
        public Image2D Result { get; }

        /// <summary>Adds source row <paramref name="y"/> (rows past the last whole block are dropped).</summary>
        public void Add(int y, ReadOnlySpan<float> row)
        {
            var output = y / _factor;
            if (output >= Result.Height) return;
            if (_factor == 1)
            {
                row[..Result.Width].CopyTo(Result.Row(output));
                return;
            }
            if (y % _factor == 0) Array.Clear(_acc);
            AddRow(row, _acc, _factor);
            if (y % _factor == _factor - 1) Finish(_acc, Result.Row(output), _scale);
        }
    }

    private static (int Width, int Height) BinnedSize(int width, int height, int factor)
    {
        if (factor < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(factor), $"binning factor {factor} must be at least 1");
        }
        int w = width / factor, h = height / factor;
        if (w == 0 || h == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(factor), $"binning a {width}x{height} image by {factor} leaves nothing");
        }
        return (w, h);
    }

    /// <summary>The original-pixel coordinate of the centre of binned pixel <paramref name="binned"/>.</summary>
    public static double ToOriginal(double binned, int factor) => (binned + 0.5) * factor - 0.5;

    /// <summary>The binned-pixel coordinate of original pixel <paramref name="original"/>.</summary>
    public static double ToBinned(double original, int factor) => (original + 0.5) / factor - 0.5;
}
