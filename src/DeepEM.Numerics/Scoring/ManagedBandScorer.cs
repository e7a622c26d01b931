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
    /// Scores of every box position of a band of <paramref name="height"/> rows of <paramref name="width"/>
    /// pixels; the result has the band's stride: rows [0, height − box], columns [0, width − box] valid.
    /// </summary>
    float[] ScoreBand(ReadOnlySpan<float> band, int width, int height);
}

/// <summary>The managed CPU band scorer: the AVX2/FMA convolution kernel with dilation, vectorised pooling and output unit.</summary>
public sealed class ManagedBandScorer : IBandScorer
{
    private readonly NetworkArchitecture _arch;
    private readonly float[] _parameters;
    private readonly float[][] _packed;

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
        if (buffers[slot].Length < length) buffers[slot] = new float[length];
        return buffers[slot];
    }

    /// <summary>
    /// Scores of every box position of one band (height rows, stride = width); the result has the band's
    /// stride, rows [0, height − box], columns [0, width − box] valid.
    /// </summary>
    public float[] ScoreBand(ReadOnlySpan<float> band, int width, int height)
    {
        var buffers = _bufferSets.TryTake(out var set) ? set : [];
        try
        {
            return ScoreBand(band, width, height, buffers);
        }
        finally
        {
            _bufferSets.Add(buffers);
        }
    }

    private float[] ScoreBand(ReadOnlySpan<float> band, int width, int height, List<float[]> buffers)
    {
        var layout = _arch.Layout;
        var stride = width;
        var finalSize = _arch.Stages[^1].OutHeight;
        var slack = PlaneSlack(_arch);
        int Plane(int rows) => rows * stride + slack;

        var rowsIn = height;
        var inPlane = Plane(rowsIn);
        var slot = 0;
        var input = Buffer(buffers, slot++, inPlane);
        band.CopyTo(input);
        float[] current = input;
        var channels = 1;
        var d = 1;
        for (var s = 0; s < _arch.Stages.Count; s++)
        {
            var st = _arch.Stages[s];
            var convRows = rowsIn - d * (st.Kernel - 1);
            var convPlane = RoundUp(convRows * stride, Convolution.PixelBlock) + slack;
            var act = Buffer(buffers, slot++, Convolution.PaddedOutputs(st.OutChannels) * convPlane);
            Convolution.Forward(current, channels, inPlane, stride, _packed[s],
                _parameters.AsSpan(layout.BiasOffset(s), st.OutChannels), st.OutChannels, st.Kernel, act, convRows, convPlane, d, _arch.Activation);
            var poolRows = convRows - d * (st.Pool - 1);
            var poolPlane = Plane(poolRows);
            var pooled = Buffer(buffers, slot++, st.OutChannels * poolPlane);
            DilatedPool(act, st.OutChannels, convPlane, stride, st.Pool, d, poolRows, pooled, poolPlane);
            current = pooled;
            inPlane = poolPlane;
            rowsIn = poolRows;
            channels = st.OutChannels;
            d *= st.Pool;
        }
        var zRows = rowsIn - d * (finalSize - 1);
        var scores = new float[Math.Max(zRows, 0) * stride + Convolution.PixelBlock];
        DilatedDense(current, channels, inPlane, stride, finalSize, d, zRows,
            _parameters.AsSpan(layout.DenseWeightOffset, _arch.DenseInputs), _parameters[layout.DenseBiasOffset], scores);
        return scores;
    }

    private static int RoundUp(int v, int m) => (v + m - 1) / m * m;

    /// <summary>P[c][q] = (1/p²) Σ_dy Σ_dx A[c][q + d·(dy·stride + dx)], summed in the per-box order.</summary>
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

    /// <summary>score[q] = σ(b + Σ_c Σ_u Σ_v w[c][u][v]·P[c][q + d·(u·stride + v)]).</summary>
    private static unsafe void DilatedDense(float[] maps, int channels, int plane, int stride, int size, int d, int rows,
        ReadOnlySpan<float> weights, float bias, float[] scores)
    {
        var count = Math.Max(rows, 0) * stride;
        fixed (float* m = maps)
        fixed (float* w = weights)
        fixed (float* o = scores)
        {
            var q = 0;
            if (Fma.IsSupported)
            {
                for (; q + 8 <= count; q += 8)
                {
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
                    var e = Vector256.Exp(-z);
                    Avx.Store(o + q, Vector256<float>.One / (Vector256<float>.One + e));
                }
            }
            for (; q < count; q++)
            {
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
                o[q] = Sigmoid.Forward(z);
            }
        }
    }
}
