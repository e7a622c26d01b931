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
    // Each stage's dilation (the product of the poolings before it), and last the output unit's (of all of them).
    private readonly int[] _dilations;

    /// <param name="stepRows">Rows of a band taken in at a time (<see cref="DefaultStepRows"/>); the scores are the same
    /// for any, a band's whole height included.</param>
    public ManagedBandScorer(NetworkArchitecture architecture, float[] parameters, int stepRows = DefaultStepRows)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stepRows, 1);
        _stepRows = stepRows;
        _arch = architecture;
        _parameters = parameters;
        var layout = architecture.Layout;
        _packed = architecture.Stages.Select((st, s) =>
        {
            var packed = new float[Convolution.PackedLength(st.OutChannels, st.InChannels, st.Kernel)];
            Convolution.PackWeights(parameters.AsSpan(layout.WeightOffset(s), st.WeightCount), st.OutChannels, st.InChannels, st.Kernel, packed);
            return packed;
        }).ToArray();
        _dilations = new int[architecture.Stages.Count + 1];
        _dilations[0] = 1;
        for (var s = 0; s < architecture.Stages.Count; s++) _dilations[s + 1] = _dilations[s] * architecture.Stages[s].Pool;
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
    // most one per core): allocating (and zeroing) them anew for every band cost more than the arithmetic when
    // they held whole stages. Reused buffers hold stale but finite values past the part a band writes, which only
    // garbage positions read.
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

    /// <summary>
    /// One level of the streamed network over a band: the band's own rows, a stage's activations or its pooled maps, and
    /// last the scores. Row r of every level belongs to the boxes whose corner is on row r (the dense construction keeps
    /// the levels aligned); a level holds its rows [Lo, Hi), row r at buffer row r − Lo.
    /// </summary>
    private sealed class Level
    {
        public int Channels;
        /// <summary>Rows of this level over the whole band.</summary>
        public int Total;
        /// <summary>Rows past its own the next level reads: row y of the next needs rows y .. y + Reach of this one.</summary>
        public int Reach;
        /// <summary>
        /// Rows computed at a time: whole groups of Winograd tiles (m rows d apart), so that every row falls in the tile it
        /// falls in when the whole band is computed at once and is rounded alike; else 1.
        /// </summary>
        public int Group = 1;
        public int Capacity;
        public int Lo, Hi;
    }

    /// <summary>
    /// Rows of a band taken in per step: more is fewer, longer kernel calls; fewer keeps what a level writes in the core's
    /// caches until the next level reads it. At 32 rows a 1024-wide level of 12 maps wrote 1.5 MB per step, past a core's
    /// 1 MB L2; at 8 a binned 4096² micrograph scores in 0.106 s against 0.137 s (docs/benchmarks.md), and the scores are
    /// the same to the bit for any step.
    /// </summary>
    public const int DefaultStepRows = 8;

    private readonly int _stepRows;

    /// <summary>
    /// The band streamed through the network a few rows at a time, each level keeping only the rows the next still reads.
    /// Each row is computed once, in the tiles and order of running every stage over the whole band, so the scores are
    /// the same to the bit; but a band holds about 15 MB (deepem-48, 1024 px wide) where whole stages held about 100 MB,
    /// which a micrograph's first scoring had to fault in (the kernel zeroing fresh pages was about a sixth of a
    /// one-micrograph pick).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ScoreBand(ReadOnlySpan<float> band, int width, int height, List<float[]> buffers, Span<float> scores, int scoresStride)
    {
        var stride = width;
        var levels = Plan(width, height);
        var held = levels.Length - 1; // the scores go straight to the caller's map
        var slack = PlaneSlack(_arch);
        var planes = new int[held];
        var data = new float[held][];
        for (var l = 0; l < held; l++)
        {
            planes[l] = RoundUp(levels[l].Capacity * stride, Convolution.PixelBlock) + slack;
            // One plane more than the channels: a level is read and written through spans that start at a row inside it,
            // and each must still be as long as all the level's planes (the Winograd kernel checks that).
            data[l] = Buffer(buffers, l, (levels[l].Channels + 1) * planes[l]);
        }
        var scratch = Buffer(buffers, held, Math.Max(1, _arch.Stages.Select((_, s) => _winograd[s]?.ScratchLength(_dilations[s]) ?? 0).Max()));
        var layout = _arch.Layout;
        foreach (var (l, to) in Steps(levels, _stepRows))
        {
            var level = levels[l];
            if (l < held) MakeRoom(levels, l, to, data[l], planes[l], stride);
            var rows = to - level.Hi;
            if (l == 0)
            {
                band.Slice(level.Hi * stride, rows * stride).CopyTo(data[0].AsSpan((level.Hi - level.Lo) * stride));
                continue;
            }
            var prev = levels[l - 1];
            var inAt = (level.Hi - prev.Lo) * stride;
            if (l == held)
            {
                DilatedDense(data[l - 1], inAt, prev.Channels, planes[l - 1], stride, _arch.Stages[^1].OutHeight, _dilations[^1], rows, width - _arch.BoxSize + 1,
                    _parameters.AsSpan(layout.DenseWeightOffset, _arch.DenseInputs), _parameters[layout.DenseBiasOffset], scores[(level.Hi * scoresStride)..], scoresStride);
                continue;
            }
            var stage = (l - 1) / 2;
            var st = _arch.Stages[stage];
            var d = _dilations[stage];
            var outAt = (level.Hi - level.Lo) * stride;
            if (l % 2 == 0)
            {
                DilatedPool(data[l - 1], inAt, st.OutChannels, planes[l - 1], stride, st.Pool, d, rows, data[l], outAt, planes[l]);
            }
            else if (level.Group > 1 && rows >= level.Group)
            {
                _winograd[stage]!.Forward(data[l - 1].AsSpan(inAt), planes[l - 1], stride, data[l].AsSpan(outAt), rows, planes[l], d, _arch.Activation, scratch);
            }
            else
            {
                Convolution.Forward(data[l - 1].AsSpan(inAt), prev.Channels, planes[l - 1], stride, _packed[stage],
                    _parameters.AsSpan(layout.BiasOffset(stage), st.OutChannels), st.OutChannels, st.Kernel, data[l].AsSpan(outAt), rows, planes[l], d, _arch.Activation);
            }
        }
    }

    /// <summary>
    /// The levels of a band of <paramref name="height"/> rows: the band, then each stage's activations and pooled maps,
    /// then the scores; each level's capacity from a dry run of <see cref="Steps"/>.
    /// </summary>
    private Level[] Plan(int width, int height)
    {
        var stages = _arch.Stages;
        var levels = new Level[2 * stages.Count + 2];
        levels[0] = new Level { Channels = 1, Total = height };
        for (var s = 0; s < stages.Count; s++)
        {
            var (st, d, input) = (stages[s], _dilations[s], levels[2 * s]);
            input.Reach = d * (st.Kernel - 1);
            var conv = levels[2 * s + 1] = new Level { Channels = Convolution.PaddedOutputs(st.OutChannels), Total = input.Total - input.Reach, Reach = d * (st.Pool - 1) };
            // The whole band's choice (ScoreBand before streaming): Winograd where its tiles fit, the direct kernel otherwise.
            if (_winograd[s] is { } winograd && WinogradRows.Applies(width, conv.Total, winograd.Tile, d)) conv.Group = winograd.Tile * d;
            levels[2 * s + 2] = new Level { Channels = st.OutChannels, Total = conv.Total - conv.Reach };
        }
        var last = levels[^2];
        last.Reach = _dilations[^1] * (stages[^1].OutHeight - 1);
        // The dense maps run past the last whole box where a pooling drops a remainder: only box positions are scored.
        levels[^1] = new Level { Total = Math.Min(last.Total - last.Reach, height - _arch.BoxSize + 1) };

        // A level must hold the rows from the next level's next row to the last it computes; a step of room more, so that
        // rows are moved to the buffer's start only now and then.
        var most = new int[levels.Length];
        foreach (var (l, to) in Steps(levels, _stepRows))
        {
            if (l < levels.Length - 1) most[l] = Math.Max(most[l], to - levels[l + 1].Hi);
        }
        foreach (var (level, l) in levels.Select((v, i) => (v, i)))
        {
            level.Capacity = most[l] + _stepRows;
            level.Lo = level.Hi = 0;
        }
        return levels;
    }

    /// <summary>
    /// The order of the work: the band's next rows in, then each level as far as what it reads allows, until every score is
    /// computed. Yields (level, to): compute the level's rows [Hi, to); its Hi moves to <c>to</c> when the caller is done.
    /// </summary>
    private static IEnumerable<(int Level, int To)> Steps(Level[] levels, int stepRows)
    {
        var scores = levels[^1];
        while (scores.Hi < scores.Total)
        {
            var input = levels[0];
            var next = Math.Min(input.Total, input.Hi + stepRows);
            if (next > input.Hi)
            {
                yield return (0, next);
                input.Hi = next;
            }
            for (var l = 1; l < levels.Length; l++)
            {
                var (prev, level) = (levels[l - 1], levels[l]);
                var can = prev.Hi - prev.Reach;
                var to = can >= level.Total ? level.Total : can / level.Group * level.Group;
                if (to <= level.Hi) continue;
                yield return (l, to);
                level.Hi = to;
            }
        }
    }

    /// <summary>Room in level <paramref name="l"/> for its rows up to <paramref name="to"/>: the rows the next level has read for the last time go.</summary>
    private static void MakeRoom(Level[] levels, int l, int to, float[] buffer, int plane, int stride)
    {
        var level = levels[l];
        if (to - level.Lo <= level.Capacity) return;
        var keep = levels[l + 1].Hi;
        if (keep > level.Lo)
        {
            for (var c = 0; c < level.Channels; c++)
            {
                Array.Copy(buffer, c * plane + (keep - level.Lo) * stride, buffer, c * plane, (level.Hi - keep) * stride);
            }
            level.Lo = keep;
        }
        if (to - level.Lo > level.Capacity) throw new InvalidOperationException($"streamed level {l}: rows {level.Lo}..{to} exceed its {level.Capacity}");
    }

    private static int RoundUp(int v, int m) => (v + m - 1) / m * m;

    /// <summary>P[c][q] = (1/p²) Σ_dy Σ_dx A[c][q + d·(dy·stride + dx)], summed in the per-box order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DilatedPool(float[] act, int actAt, int channels, int actPlane, int stride, int pool, int d, int rows, float[] pooled, int pooledAt, int poolPlane)
    {
        var count = rows * stride;
        var scale = 1f / (pool * pool);
        var wide = VectorWidth.Wide;
        fixed (float* a = act)
        fixed (float* p = pooled)
        {
            for (var c = 0; c < channels; c++)
            {
                var src = a + actAt + c * actPlane;
                var dst = p + pooledAt + c * poolPlane;
                var q = 0;
                if (wide)
                {
                    // Sixteen at a time, each lane summed as eight at a time do (VectorWidth).
                    var vs = Vector512.Create(scale);
                    for (; q + 16 <= count; q += 16)
                    {
                        var acc = Vector512<float>.Zero;
                        for (var dy = 0; dy < pool; dy++)
                        {
                            var row = src + q + d * dy * stride;
                            var s = Vector512<float>.Zero;
                            for (var dx = 0; dx < pool; dx++) s += Avx512F.LoadVector512(row + d * dx);
                            acc += s;
                        }
                        Avx512F.Store(dst + q, acc * vs);
                    }
                }
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
    private static unsafe void DilatedDense(float[] maps, int mapsAt, int channels, int plane, int stride, int size, int d, int rows, int columns,
        ReadOnlySpan<float> weights, float bias, Span<float> scores, int outStride)
    {
        fixed (float* m0 = maps)
        fixed (float* w = weights)
        fixed (float* o = scores)
        {
            var m = m0 + mapsAt;
            var wide = VectorWidth.Wide;
            for (var y = 0; y < rows; y++)
            {
                DenseRow(m, channels, plane, stride, size, d, y * stride, columns, w, bias, o + (long)y * outStride, wide);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DenseRow(float* m, int channels, int plane, int stride, int size, int d, int rowStart, int columns,
        float* w, float bias, float* o, bool wide)
    {
        var x = 0;
        if (wide)
        {
            // The same on 512-bit vectors, 64 columns at a time; the rest below (VectorWidth).
            for (; x + 64 <= columns; x += 64)
            {
                var q = rowStart + x;
                var z0 = Vector512.Create(bias);
                Vector512<float> z1 = z0, z2 = z0, z3 = z0;
                var wi = 0;
                for (var c = 0; c < channels; c++)
                {
                    for (var u = 0; u < size; u++)
                    {
                        var row = m + c * plane + q + d * u * stride;
                        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
                        for (var v = 0; v < size; v++, wi++)
                        {
                            var wv = Vector512.Create(w[wi]);
                            var at = row + d * v;
                            s0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(at), wv, s0);
                            s1 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(at + 16), wv, s1);
                            s2 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(at + 32), wv, s2);
                            s3 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(at + 48), wv, s3);
                        }
                        z0 += s0; z1 += s1; z2 += s2; z3 += s3;
                    }
                }
                Avx512F.Store(o + x, Vector512<float>.One / (Vector512<float>.One + VectorExp.Exp(-z0)));
                Avx512F.Store(o + x + 16, Vector512<float>.One / (Vector512<float>.One + VectorExp.Exp(-z1)));
                Avx512F.Store(o + x + 32, Vector512<float>.One / (Vector512<float>.One + VectorExp.Exp(-z2)));
                Avx512F.Store(o + x + 48, Vector512<float>.One / (Vector512<float>.One + VectorExp.Exp(-z3)));
            }
        }
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
