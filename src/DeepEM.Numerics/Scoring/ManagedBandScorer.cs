using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using DeepEM.Numerics.Layers;
using DeepEM.Numerics.Network;

namespace DeepEM.Numerics.Scoring;

/// <summary>
/// Scores every box position of one band of an image: the network's stages run over the whole band with
/// dilated taps (see <see cref="DenseScorer"/> for why this equals scoring each box).
/// </summary>
public interface IBandScorer
{
    /// <summary>How many bands may be scored at once (the CPU: one per core; a GPU: one).</summary>
    int MaxParallelism { get; }

    /// <summary>
    /// Scores of every box position of a band of <paramref name="height"/> rows of <paramref name="width"/> pixels,
    /// written to <paramref name="scores"/>: row y (of height − box + 1) at y·<paramref name="scoresStride"/>, its
    /// width − box + 1 columns and nothing else (the caller's map, so that no band allocates or copies its scores).
    /// </summary>
    void ScoreBand(ReadOnlySpan<float> band, int width, int height, Span<float> scores, int scoresStride);
}

/// <summary>
/// The managed CPU band scorer: the AVX2/FMA convolution kernels with dilation (Winograd's F(m, k) down the columns for the
/// 3 × 3 and 5 × 5 layers, <see cref="WinogradRows"/>; direct taps for the others), vectorised pooling and output unit.
/// </summary>
public sealed class ManagedBandScorer : IBandScorer
{
    private readonly NetworkArchitecture _arch;
    private readonly float[] _parameters;
    private readonly float[][] _packed;
    private readonly WinogradRows?[] _winograd;

    public ManagedBandScorer(NetworkArchitecture architecture, float[] parameters)
    {
        _arch = architecture;
        _parameters = parameters;
        var layout = architecture.Layout;
        _packed = architecture.Stages.Select((st, s) =>
        {
            var packed = new float[Convolution.PackedLength(st.OutChannels, st.InChannels, st.Kernel)];
            Convolution.PackWeights(parameters.AsSpan(layout.WeightOffset(s), st.WeightCount), st.OutChannels, st.InChannels, st.Kernel, packed);
            return packed;
        }).ToArray();
        _winograd = architecture.Stages.Select((st, s) => Fma.IsSupported && WinogradRows.TileFor(st.Kernel, st.InChannels) is { } m
            ? new WinogradRows(parameters.AsSpan(layout.WeightOffset(s), st.WeightCount), parameters.AsSpan(layout.BiasOffset(s), st.OutChannels),
                st.OutChannels, st.InChannels, st.Kernel, m)
            : null).ToArray();
    }

    public int MaxParallelism => int.MaxValue;

    /// <summary>
    /// Floats a flat plane needs past its last row: the farthest any dilated tap reaches beyond a row's end
    /// (kernels, poolings and the output unit), plus a vector's width of over-read.
    /// </summary>
    public static int PlaneSlack(NetworkArchitecture arch)
    {
        var reach = 0;
        var d = 1;
        foreach (var st in arch.Stages)
        {
            reach = Math.Max(reach, d * (st.Kernel - 1));
            d *= st.Pool;
            reach = Math.Max(reach, d);
        }
        reach = Math.Max(reach, d * arch.Stages[^1].OutHeight);
        return reach + 2 * Convolution.PixelBlock + 8;
    }

    // Band buffers are kept between bands and micrographs, one set per band scored at the same time (at
    // most one per core): a band's maps are hundreds of megabytes, and allocating (and zeroing) them anew
    // for every band cost more than the arithmetic. Reused buffers hold stale but finite values past the
    // part a band writes, which only garbage positions read.
    private readonly System.Collections.Concurrent.ConcurrentBag<List<float[]>> _bufferSets = [];

    private static float[] Buffer(List<float[]> buffers, int slot, int length)
    {
        while (buffers.Count <= slot) buffers.Add([]);
        if (buffers[slot].Length < length) buffers[slot] = LargeBuffers.Allocate(length);
        return buffers[slot];
    }

    public void ScoreBand(ReadOnlySpan<float> band, int width, int height, Span<float> scores, int scoresStride)
    {
        var box = _arch.BoxSize;
        if (height < box || width < box) throw new ArgumentException($"band {width}x{height} is smaller than the {box} px box");
        if (scores.Length < (long)(height - box) * scoresStride + width - box + 1) throw new ArgumentException("the scores do not fit their destination");
        var buffers = _bufferSets.TryTake(out var set) ? set : [];
        try
        {
            ScoreBand(band, width, height, buffers, scores, scoresStride);
        }
        finally
        {
            _bufferSets.Add(buffers);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ScoreBand(ReadOnlySpan<float> band, int width, int height, List<float[]> buffers, Span<float> scores, int scoresStride)
    {
        var layout = _arch.Layout;
        var stride = width;
        var finalSize = _arch.Stages[^1].OutHeight;
        var slack = PlaneSlack(_arch);
        int Plane(int rows) => rows * stride + slack;

        // Two buffers for all stages: a stage's convolution reads the maps pooled before it (buffer 0, which first holds
        // the band itself) and writes its activations to buffer 1; its pooling reads those and writes buffer 0 again.
        // Buffers per stage would hold three times the memory for nothing.
        const int pooledSlot = 0, activationSlot = 1, scratchSlot = 2;
        var rowsIn = height;
        var inPlane = Plane(rowsIn);
        var input = Buffer(buffers, pooledSlot, inPlane);
        band.CopyTo(input);
        float[] current = input;
        var channels = 1;
        var d = 1;
        for (var s = 0; s < _arch.Stages.Count; s++)
        {
            var st = _arch.Stages[s];
            var convRows = rowsIn - d * (st.Kernel - 1);
            var convPlane = RoundUp(convRows * stride, Convolution.PixelBlock) + slack;
            var act = Buffer(buffers, activationSlot, Convolution.PaddedOutputs(st.OutChannels) * convPlane);
            if (_winograd[s] is { } winograd && WinogradRows.Applies(stride, convRows, winograd.Tile, d))
            {
                winograd.Forward(current, inPlane, stride, act, convRows, convPlane, d, _arch.Activation, Buffer(buffers, scratchSlot, winograd.ScratchLength(d)));
            }
            else
            {
                Convolution.Forward(current, channels, inPlane, stride, _packed[s],
                    _parameters.AsSpan(layout.BiasOffset(s), st.OutChannels), st.OutChannels, st.Kernel, act, convRows, convPlane, d, _arch.Activation);
            }
            var poolRows = convRows - d * (st.Pool - 1);
            var poolPlane = Plane(poolRows);
            var pooled = Buffer(buffers, pooledSlot, st.OutChannels * poolPlane);
            DilatedPool(act, st.OutChannels, convPlane, stride, st.Pool, d, poolRows, pooled, poolPlane);
            current = pooled;
            inPlane = poolPlane;
            rowsIn = poolRows;
            channels = st.OutChannels;
            d *= st.Pool;
        }
        // The dense maps run past the last whole box where a pooling drops a remainder: only box positions are written.
        var zRows = Math.Min(rowsIn - d * (finalSize - 1), height - _arch.BoxSize + 1);
        DilatedDense(current, channels, inPlane, stride, finalSize, d, zRows, width - _arch.BoxSize + 1,
            _parameters.AsSpan(layout.DenseWeightOffset, _arch.DenseInputs), _parameters[layout.DenseBiasOffset], scores, scoresStride);
    }

    private static int RoundUp(int v, int m) => (v + m - 1) / m * m;

    /// <summary>P[c][q] = (1/p²) Σ_dy Σ_dx A[c][q + d·(dy·stride + dx)], summed in the per-box order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DilatedPool(float[] act, int channels, int actPlane, int stride, int pool, int d, int rows, float[] pooled, int poolPlane)
    {
        var count = rows * stride;
        var scale = 1f / (pool * pool);
        fixed (float* a = act)
        fixed (float* p = pooled)
        {
            for (var c = 0; c < channels; c++)
            {
                var src = a + c * actPlane;
                var dst = p + c * poolPlane;
                var q = 0;
                if (Avx.IsSupported)
                {
                    var vs = Vector256.Create(scale);
                    for (; q + 8 <= count; q += 8)
                    {
                        var acc = Vector256<float>.Zero;
                        for (var dy = 0; dy < pool; dy++)
                        {
                            var row = src + q + d * dy * stride;
                            var s = Vector256<float>.Zero;
                            for (var dx = 0; dx < pool; dx++) s += Avx.LoadVector256(row + d * dx);
                            acc += s;
                        }
                        Avx.Store(dst + q, acc * vs);
                    }
                }
                for (; q < count; q++)
                {
                    var acc = 0f;
                    for (var dy = 0; dy < pool; dy++)
                    {
                        var s = 0f;
                        for (var dx = 0; dx < pool; dx++) s += src[q + d * (dy * stride + dx)];
                        acc += s;
                    }
                    dst[q] = acc * scale;
                }
            }
        }
    }

    /// <summary>
    /// score[y·outStride + x] = σ(b + Σ_c Σ_u Σ_v w[c][u][v]·P[c][q + d·(u·stride + v)]), q = y·stride + x, for the
    /// <paramref name="columns"/> valid columns of each row. Every position goes through the vector path when a row has
    /// at least a vector's width (its last vector is moved back to end at the row's end), the scalar one otherwise.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DilatedDense(float[] maps, int channels, int plane, int stride, int size, int d, int rows, int columns,
        ReadOnlySpan<float> weights, float bias, Span<float> scores, int outStride)
    {
        fixed (float* m = maps)
        fixed (float* w = weights)
        fixed (float* o = scores)
        {
            for (var y = 0; y < rows; y++)
            {
                DenseRow(m, channels, plane, stride, size, d, y * stride, columns, w, bias, o + (long)y * outStride);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DenseRow(float* m, int channels, int plane, int stride, int size, int d, int rowStart, int columns,
        float* w, float bias, float* o)
    {
        var x = 0;
        if (Fma.IsSupported && columns >= 8)
        {
            // Four vectors at a time: four independent sums (one vector's sum waits on each addition before) and each weight
            // broadcast once for all four. Each lane sums in the same order as one vector alone, so the scores are the same.
            for (; x + 32 <= columns; x += 32)
            {
                var q = rowStart + x;
                var z0 = Vector256.Create(bias);
                Vector256<float> z1 = z0, z2 = z0, z3 = z0;
                var wi = 0;
                for (var c = 0; c < channels; c++)
                {
                    for (var u = 0; u < size; u++)
                    {
                        var row = m + c * plane + q + d * u * stride;
                        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
                        for (var v = 0; v < size; v++, wi++)
                        {
                            var wv = Vector256.Create(w[wi]);
                            var at = row + d * v;
                            s0 = Fma.MultiplyAdd(Avx.LoadVector256(at), wv, s0);
                            s1 = Fma.MultiplyAdd(Avx.LoadVector256(at + 8), wv, s1);
                            s2 = Fma.MultiplyAdd(Avx.LoadVector256(at + 16), wv, s2);
                            s3 = Fma.MultiplyAdd(Avx.LoadVector256(at + 24), wv, s3);
                        }
                        z0 += s0; z1 += s1; z2 += s2; z3 += s3;
                    }
                }
                Avx.Store(o + x, Vector256<float>.One / (Vector256<float>.One + VectorExp.Exp(-z0)));
                Avx.Store(o + x + 8, Vector256<float>.One / (Vector256<float>.One + VectorExp.Exp(-z1)));
                Avx.Store(o + x + 16, Vector256<float>.One / (Vector256<float>.One + VectorExp.Exp(-z2)));
                Avx.Store(o + x + 24, Vector256<float>.One / (Vector256<float>.One + VectorExp.Exp(-z3)));
            }
            for (var next = x; next < columns; next += 8)
            {
                x = Math.Min(next, columns - 8);
                var q = rowStart + x;
                var z = Vector256.Create(bias);
                var wi = 0;
                for (var c = 0; c < channels; c++)
                {
                    for (var u = 0; u < size; u++)
                    {
                        var row = m + c * plane + q + d * u * stride;
                        var s = Vector256<float>.Zero;
                        for (var v = 0; v < size; v++, wi++) s = Fma.MultiplyAdd(Avx.LoadVector256(row + d * v), Vector256.Create(w[wi]), s);
                        z += s;
                    }
                }
                var e = VectorExp.Exp(-z);
                Avx.Store(o + x, Vector256<float>.One / (Vector256<float>.One + e));
            }
            return;
        }
        for (; x < columns; x++)
        {
            var q = rowStart + x;
            var z = bias;
            var wi = 0;
            for (var c = 0; c < channels; c++)
            {
                for (var u = 0; u < size; u++)
                {
                    var s = 0f;
                    for (var v = 0; v < size; v++, wi++) s += m[c * plane + q + d * (u * stride + v)] * w[wi];
                    z += s;
                }
            }
            o[x] = Sigmoid.Forward(z);
        }
    }
}
