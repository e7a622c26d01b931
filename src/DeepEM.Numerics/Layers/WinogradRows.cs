using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DeepEM.Numerics.Layers;

/// <summary>
/// The forward convolution of dense scoring with fewer multiplications: Winograd's minimal filtering F(m, k) down the
/// columns (y), direct taps along the rows (x). A tile of m output rows, d apart for dilation d, is computed from
/// n = m + k − 1 input rows combined into n transformed rows (Bᵀ), each convolved along x with one transformed kernel
/// row (G), and the n results combined into the m output rows (Aᵀ): n·k multiply-adds per input map, output map and
/// pixel for m rows, where <see cref="Convolution.Forward"/> takes m·k². For the 5×5 and 3×3 layers of deepem-48, with
/// F(4, 5) and F(6, 3), that is 2.5× and 2.25× fewer, before the transforms.
///
/// One-dimensional on purpose: the rows stay whole vectors, so dilation and the flat plane layout of
/// <see cref="Convolution"/> (p = y·stride + x, garbage at x ≥ the output width) carry over unchanged, and the
/// rounding stays close to direct summation (a 2D transform multiplies the error of its 1D factors). The sums are in
/// another order than the box-by-box path, so scores differ from it by rounding (measured and tested within 1e-5).
///
/// The matrices come from the Toom–Cook construction on the points 0, ±1, ±2, ±1/2, ±3, … and ∞ (<see cref="Matrices"/>),
/// computed in double; the kernels are transformed once, in double, when the layer is built.
/// </summary>
public sealed class WinogradRows
{
    /// <summary>Pixels of a row transformed and convolved at a time: the transformed rows of one segment stay in L1/L2.</summary>
    private const int Segment = 256;

    private const int Block = Convolution.OutputBlock;
    private const int Pixels = Convolution.PixelBlock;

    private readonly int _m, _k, _n, _in, _out, _blocks;
    private readonly float[] _bt;      // n × n, row j: the weights of the input rows in transformed row j
    private readonly float[] _at;      // m × n, row t: the weights of the transformed products in output row t
    private readonly float[] _packed;  // [block][j][i][kx][6]: transformed kernels, the six output maps of a tap adjacent
    private readonly float[] _bias;    // padded to whole blocks
    private readonly float[] _direct;  // the kernels packed for the direct kernel, which computes the rows past the last whole tile

    /// <param name="weights">w[o][i][ky][kx], as the network stores them.</param>
    public WinogradRows(ReadOnlySpan<float> weights, ReadOnlySpan<float> bias, int outChannels, int inChannels, int k, int m)
    {
        if (m < 1 || k < 1) throw new ArgumentOutOfRangeException(nameof(m), "tile and kernel must be positive");
        _m = m;
        _k = k;
        _n = m + k - 1;
        _in = inChannels;
        _out = outChannels;
        _blocks = Convolution.PaddedOutputs(outChannels) / Block;
        var (at, g, bt) = Matrices(m, k);
        _bt = new float[_n * _n];
        _at = new float[m * _n];
        for (var j = 0; j < _n; j++)
        {
            for (var l = 0; l < _n; l++) _bt[j * _n + l] = (float)bt[j, l];
            for (var t = 0; t < m; t++) _at[t * _n + j] = (float)at[t, j];
        }
        _packed = new float[_blocks * _n * inChannels * k * Block];
        for (var o = 0; o < outChannels; o++)
        {
            for (var i = 0; i < inChannels; i++)
            {
                for (var j = 0; j < _n; j++)
                {
                    for (var kx = 0; kx < k; kx++)
                    {
                        var u = 0.0;
                        for (var ky = 0; ky < k; ky++) u += g[j, ky] * weights[((o * inChannels + i) * k + ky) * k + kx];
                        _packed[((((o / Block) * _n + j) * inChannels + i) * k + kx) * Block + o % Block] = (float)u;
                    }
                }
            }
        }
        _bias = new float[_blocks * Block];
        bias[..outChannels].CopyTo(_bias);
        _direct = new float[Convolution.PackedLength(outChannels, inChannels, k)];
        Convolution.PackWeights(weights, outChannels, inChannels, k, _direct);
    }

    /// <summary>Output rows of one tile.</summary>
    public int Tile => _m;

    /// <summary>
    /// The tile dense scoring uses for a k × k layer, or null where the direct kernel is the better choice: m = 6 for 3 × 3
    /// and m = 4 for 5 × 5 (1.6–1.7× faster each on a 1024² binned micrograph here, docs/benchmarks.md; the rounding a few
    /// times direct summation's, far inside 1e-5 of a score). Larger kernels need more than eight points, where the transforms' entries grow and
    /// the rounding with them; a single input map (the first layer) leaves too little work to pay for the transforms.
    /// </summary>
    public static int? TileFor(int k, int inChannels) => inChannels < 2 ? null : k switch { 3 => 6, 5 => 4, _ => null };

    /// <summary>Floats of scratch <see cref="Forward"/> needs at dilation <paramref name="dilation"/>.</summary>
    public int ScratchLength(int dilation) => _n * _in * TransformedWidth(dilation);

    // A segment's columns and the (k − 1)·d its taps reach past them, in whole vectors.
    private int TransformedWidth(int dilation) => (Segment + (_k - 1) * dilation + 7) / 8 * 8;

    /// <summary>Whether this layer can compute <paramref name="outRows"/> rows of <paramref name="stride"/> pixels (else use the direct kernel).</summary>
    public static bool Applies(int stride, int outRows, int m, int dilation) =>
        Fma.IsSupported && stride >= Pixels && outRows >= m * dilation;

    /// <summary>
    /// out[o][p] = act(bias[o] + Σ_i Σ_ky Σ_kx in[i][p + d·(ky·stride + kx)]·w[o][i][ky][kx]) for p in [0, outRows·stride), as
    /// <see cref="Convolution.Forward"/> computes it, on planes that meet the same contract (an input plane readable
    /// (k − 1)·d + 16 floats past its last row, output planes of whole blocks of 16, padding maps). Rows past the last
    /// whole group of m·d are left to the direct kernel.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public unsafe void Forward(ReadOnlySpan<float> input, int inPlane, int stride, Span<float> output, int outRows, int outPlane,
        int dilation, Network.Activation? activation, Span<float> scratch)
    {
        if (!Applies(stride, outRows, _m, dilation)) throw new ArgumentException($"{outRows} rows of {stride} px: too small for tiles of {_m} rows at dilation {dilation}");
        if (scratch.Length < ScratchLength(dilation)) throw new ArgumentException("scratch too small");
        var blocks = (outRows * stride + Pixels - 1) / Pixels * Pixels;
        if (outPlane < blocks) throw new ArgumentException($"output plane {outPlane} < {blocks}");
        if (inPlane < (outRows + dilation * (_k - 1)) * stride + dilation * (_k - 1) + Pixels)
        {
            throw new ArgumentException($"input plane {inPlane} too small for {outRows} rows of stride {stride}, kernel {_k}");
        }
        if (input.Length < (long)_in * inPlane || output.Length < (long)_blocks * Block * outPlane)
        {
            throw new ArgumentException("the planes do not fit their spans");
        }
        var act = activation is { } a ? (int)a : -1;
        var group = _m * dilation;
        var tiled = outRows / group * group;
        var width = TransformedWidth(dilation);
        // 32 pixels a chunk on 512-bit vectors (VectorWidth), each pixel computed as in a chunk of 16, so the same to the bit.
        var wide = VectorWidth.Wide && stride >= 2 * Pixels;
        var px = wide ? 2 * Pixels : Pixels;
        Span<float> mixed = stackalloc float[_n * Block * px];
        fixed (float* inBase = input)
        fixed (float* outBase = output)
        fixed (float* tBase = scratch)
        fixed (float* mBase = mixed)
        fixed (float* bt = _bt)
        fixed (float* at = _at)
        fixed (float* u = _packed)
        fixed (float* bias = _bias)
        {
            for (var top = 0; top < tiled; top += group)
            {
                for (var phase = 0; phase < dilation; phase++)
                {
                    var y0 = top + phase;
                    for (var x0 = 0; x0 < stride; x0 += Segment)
                    {
                        // A segment shorter than a chunk is moved back to end at the row's end (its pixels computed twice, alike).
                        var start = stride - x0 < px ? stride - px : x0;
                        var length = Math.Min(Segment, stride - start);
                        TransformInput(inBase + (long)y0 * stride + start, inPlane, stride, dilation, tBase, width, length + (_k - 1) * dilation, bt, wide);
                        for (var b = 0; b < _blocks; b++)
                        {
                            var kernels = u + (long)b * _n * _in * _k * Block;
                            for (var next = 0; next < length; next += px)
                            {
                                var cx = Math.Min(next, length - px);
                                var dst = outBase + (long)b * Block * outPlane + (long)y0 * stride + start + cx;
                                if (wide)
                                {
                                    ChunkWide(tBase + cx, width, kernels, dilation, mBase);
                                    StoreWide(mBase, at, bias + b * Block, dst, outPlane, stride * dilation, act);
                                }
                                else
                                {
                                    Chunk(tBase + cx, width, kernels, dilation, mBase);
                                    Store(mBase, at, bias + b * Block, dst, outPlane, stride * dilation, act);
                                }
                            }
                        }
                    }
                }
            }
        }
        if (tiled < outRows)
        {
            // The last rows, fewer than a group: the direct kernel, on planes shifted to their first row.
            var shift = tiled * stride;
            Convolution.Forward(input[shift..], _in, inPlane, stride, _direct, _bias.AsSpan(0, _out), _out, _k,
                output[shift..], outRows - tiled, outPlane, dilation, activation);
        }
    }

    /// <summary>T[j][i][x] = Σ_l Bᵀ[j][l]·in[i][(y0 + l·d)·stride + x], for the <paramref name="columns"/> columns of a segment.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void TransformInput(float* input, int inPlane, int stride, int d, float* t, int width, int columns, float* bt, bool wide)
    {
        var rowStep = (long)d * stride;
        for (var i = 0; i < _in; i++)
        {
            var src = input + (long)i * inPlane;
            var dst = t + (long)i * width;
            var planeStep = (long)_in * width;
            switch (_n)
            {
                case 6 or 8:
                    var x = wide ? TransformHeldWide(src, rowStep, dst, planeStep, columns, bt, _n) : 0;
                    TransformHeld(src + x, rowStep, dst + x, planeStep, columns - x, bt, _n);
                    break;
                default: TransformAny(src, rowStep, dst, planeStep, columns, bt, _n); break;
            }
        }
    }

    // The n input rows of 8 pixels are loaded once and held in registers while the n transformed rows are formed; looping
    // over transformed rows outside (each reading the n input rows again) cost as much as the products themselves.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void TransformHeld(float* src, long rowStep, float* dst, long planeStep, int columns, float* bt, int n)
    {
        var eight = n == 8;
        for (var x = 0; x < columns; x += 8)
        {
            var s = src + x;
            var d0 = Avx.LoadVector256(s); var d1 = Avx.LoadVector256(s + rowStep); var d2 = Avx.LoadVector256(s + 2 * rowStep);
            var d3 = Avx.LoadVector256(s + 3 * rowStep); var d4 = Avx.LoadVector256(s + 4 * rowStep); var d5 = Avx.LoadVector256(s + 5 * rowStep);
            var d6 = eight ? Avx.LoadVector256(s + 6 * rowStep) : default;
            var d7 = eight ? Avx.LoadVector256(s + 7 * rowStep) : default;
            var o = dst + x;
            for (var j = 0; j < n; j++, o += planeStep)
            {
                var c = bt + j * n;
                var acc = Vector256.Create(c[0]) * d0;
                acc = Fma.MultiplyAdd(Vector256.Create(c[1]), d1, acc);
                acc = Fma.MultiplyAdd(Vector256.Create(c[2]), d2, acc);
                acc = Fma.MultiplyAdd(Vector256.Create(c[3]), d3, acc);
                acc = Fma.MultiplyAdd(Vector256.Create(c[4]), d4, acc);
                acc = Fma.MultiplyAdd(Vector256.Create(c[5]), d5, acc);
                if (eight)
                {
                    acc = Fma.MultiplyAdd(Vector256.Create(c[6]), d6, acc);
                    acc = Fma.MultiplyAdd(Vector256.Create(c[7]), d7, acc);
                }
                Avx.Store(o, acc);
            }
        }
    }

    /// <summary><see cref="TransformHeld"/> on 512-bit vectors over the whole vectors of 16 in <paramref name="columns"/>; returns the columns done.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int TransformHeldWide(float* src, long rowStep, float* dst, long planeStep, int columns, float* bt, int n)
    {
        var eight = n == 8;
        var x = 0;
        for (; x + 16 <= columns; x += 16)
        {
            var s = src + x;
            var d0 = Avx512F.LoadVector512(s); var d1 = Avx512F.LoadVector512(s + rowStep); var d2 = Avx512F.LoadVector512(s + 2 * rowStep);
            var d3 = Avx512F.LoadVector512(s + 3 * rowStep); var d4 = Avx512F.LoadVector512(s + 4 * rowStep); var d5 = Avx512F.LoadVector512(s + 5 * rowStep);
            var d6 = eight ? Avx512F.LoadVector512(s + 6 * rowStep) : default;
            var d7 = eight ? Avx512F.LoadVector512(s + 7 * rowStep) : default;
            var o = dst + x;
            for (var j = 0; j < n; j++, o += planeStep)
            {
                var c = bt + j * n;
                var acc = Vector512.Create(c[0]) * d0;
                acc = Avx512F.FusedMultiplyAdd(Vector512.Create(c[1]), d1, acc);
                acc = Avx512F.FusedMultiplyAdd(Vector512.Create(c[2]), d2, acc);
                acc = Avx512F.FusedMultiplyAdd(Vector512.Create(c[3]), d3, acc);
                acc = Avx512F.FusedMultiplyAdd(Vector512.Create(c[4]), d4, acc);
                acc = Avx512F.FusedMultiplyAdd(Vector512.Create(c[5]), d5, acc);
                if (eight)
                {
                    acc = Avx512F.FusedMultiplyAdd(Vector512.Create(c[6]), d6, acc);
                    acc = Avx512F.FusedMultiplyAdd(Vector512.Create(c[7]), d7, acc);
                }
                Avx512F.Store(o, acc);
            }
        }
        return x;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void TransformAny(float* src, long rowStep, float* dst, long planeStep, int columns, float* bt, int n)
    {
        for (var j = 0; j < n; j++)
        {
            var o = dst + j * planeStep;
            var c = bt + j * n;
            for (var x = 0; x < columns; x += 8)
            {
                var acc = Vector256<float>.Zero;
                for (var l = 0; l < n; l++) acc = Fma.MultiplyAdd(Vector256.Create(c[l]), Avx.LoadVector256(src + l * rowStep + x), acc);
                Avx.Store(o + x, acc);
            }
        }
    }

    /// <summary>
    /// One chunk of 16 pixels for one block of six output maps: each transformed row's products (twelve accumulators,
    /// as in the direct kernel), stored to <paramref name="mixed"/> ([j][lane][16]) for <see cref="Store"/> to combine. Combining
    /// them into the m output rows as each is made cost m read-modify-writes of twelve vectors per transformed row (stores bound).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void Chunk(float* t, int width, float* u, int d, float* mixed)
    {
        var n = _n;
        var m = _m;
        var k = _k;
        var channels = _in;
        var tap = u;
        for (var j = 0; j < n; j++)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default;
            Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default;
            for (var i = 0; i < channels; i++)
            {
                var row = t + (long)(j * channels + i) * width;
                for (var kx = 0; kx < k; kx++, tap += Block)
                {
                    Convolution.Tap(row + kx * d, tap, ref a0, ref b0, ref a1, ref b1, ref a2, ref b2, ref a3, ref b3, ref a4, ref b4, ref a5, ref b5);
                }
            }
            var dst = mixed + j * Block * Pixels;
            Avx.Store(dst, a0); Avx.Store(dst + 8, b0);
            Avx.Store(dst + 16, a1); Avx.Store(dst + 24, b1);
            Avx.Store(dst + 32, a2); Avx.Store(dst + 40, b2);
            Avx.Store(dst + 48, a3); Avx.Store(dst + 56, b3);
            Avx.Store(dst + 64, a4); Avx.Store(dst + 72, b4);
            Avx.Store(dst + 80, a5); Avx.Store(dst + 88, b5);
        }
    }

    /// <summary><see cref="Chunk"/> on 512-bit vectors: 32 pixels for six maps, <paramref name="mixed"/> as [j][lane][32].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void ChunkWide(float* t, int width, float* u, int d, float* mixed)
    {
        var n = _n;
        var k = _k;
        var channels = _in;
        var tap = u;
        for (var j = 0; j < n; j++)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default;
            Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default;
            for (var i = 0; i < channels; i++)
            {
                var row = t + (long)(j * channels + i) * width;
                for (var kx = 0; kx < k; kx++, tap += Block)
                {
                    Convolution.Tap(row + kx * d, tap, ref a0, ref b0, ref a1, ref b1, ref a2, ref b2, ref a3, ref b3, ref a4, ref b4, ref a5, ref b5);
                }
            }
            var dst = mixed + j * Block * 2 * Pixels;
            Avx512F.Store(dst, a0); Avx512F.Store(dst + 16, b0);
            Avx512F.Store(dst + 32, a1); Avx512F.Store(dst + 48, b1);
            Avx512F.Store(dst + 64, a2); Avx512F.Store(dst + 80, b2);
            Avx512F.Store(dst + 96, a3); Avx512F.Store(dst + 112, b3);
            Avx512F.Store(dst + 128, a4); Avx512F.Store(dst + 144, b4);
            Avx512F.Store(dst + 160, a5); Avx512F.Store(dst + 176, b5);
        }
    }

    /// <summary><see cref="Store"/> on 512-bit vectors, for the 32 pixels of <see cref="ChunkWide"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void StoreWide(float* products, float* at, float* bias, float* output, int outPlane, int rowStep, int act)
    {
        var n = _n;
        var bias0 = Vector512.Create(bias[0]); var bias1 = Vector512.Create(bias[1]); var bias2 = Vector512.Create(bias[2]);
        var bias3 = Vector512.Create(bias[3]); var bias4 = Vector512.Create(bias[4]); var bias5 = Vector512.Create(bias[5]);
        for (var t = 0; t < _m; t++)
        {
            Vector512<float> a0 = bias0, b0 = bias0, a1 = bias1, b1 = bias1, a2 = bias2, b2 = bias2;
            Vector512<float> a3 = bias3, b3 = bias3, a4 = bias4, b4 = bias4, a5 = bias5, b5 = bias5;
            var weights = at + t * n;
            var src = products;
            for (var j = 0; j < n; j++, src += Block * 2 * Pixels)
            {
                var c = weights[j];
                if (c == 0f) continue;
                var w = Vector512.Create(c);
                a0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(src), w, a0); b0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(src + 16), w, b0);
                a1 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(src + 32), w, a1); b1 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(src + 48), w, b1);
                a2 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(src + 64), w, a2); b2 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(src + 80), w, b2);
                a3 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(src + 96), w, a3); b3 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(src + 112), w, b3);
                a4 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(src + 128), w, a4); b4 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(src + 144), w, b4);
                a5 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(src + 160), w, a5); b5 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(src + 176), w, b5);
            }
            var dst = output + (long)t * rowStep;
            if (act >= 0) Convolution.ActivateInRegisters(ref a0, ref b0, ref a1, ref b1, ref a2, ref b2, ref a3, ref b3, ref a4, ref b4, ref a5, ref b5, act);
            Avx512F.Store(dst, a0); Avx512F.Store(dst + 16, b0); dst += outPlane;
            Avx512F.Store(dst, a1); Avx512F.Store(dst + 16, b1); dst += outPlane;
            Avx512F.Store(dst, a2); Avx512F.Store(dst + 16, b2); dst += outPlane;
            Avx512F.Store(dst, a3); Avx512F.Store(dst + 16, b3); dst += outPlane;
            Avx512F.Store(dst, a4); Avx512F.Store(dst + 16, b4); dst += outPlane;
            Avx512F.Store(dst, a5); Avx512F.Store(dst + 16, b5);
        }
    }

    /// <summary>Output row t of the tile (at y0 + t·d) = act(bias + Σ_j Aᵀ[t][j]·products[j]), for the chunk's six maps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void Store(float* products, float* at, float* bias, float* output, int outPlane, int rowStep, int act)
    {
        var n = _n;
        var bias0 = Vector256.Create(bias[0]); var bias1 = Vector256.Create(bias[1]); var bias2 = Vector256.Create(bias[2]);
        var bias3 = Vector256.Create(bias[3]); var bias4 = Vector256.Create(bias[4]); var bias5 = Vector256.Create(bias[5]);
        for (var t = 0; t < _m; t++)
        {
            // Twelve independent sums (six maps × two vectors), so that the additions over j do not wait on each other.
            Vector256<float> a0 = bias0, b0 = bias0, a1 = bias1, b1 = bias1, a2 = bias2, b2 = bias2;
            Vector256<float> a3 = bias3, b3 = bias3, a4 = bias4, b4 = bias4, a5 = bias5, b5 = bias5;
            var weights = at + t * n;
            var src = products;
            for (var j = 0; j < n; j++, src += Block * Pixels)
            {
                var c = weights[j];
                if (c == 0f) continue;
                var w = Vector256.Create(c);
                a0 = Fma.MultiplyAdd(Avx.LoadVector256(src), w, a0); b0 = Fma.MultiplyAdd(Avx.LoadVector256(src + 8), w, b0);
                a1 = Fma.MultiplyAdd(Avx.LoadVector256(src + 16), w, a1); b1 = Fma.MultiplyAdd(Avx.LoadVector256(src + 24), w, b1);
                a2 = Fma.MultiplyAdd(Avx.LoadVector256(src + 32), w, a2); b2 = Fma.MultiplyAdd(Avx.LoadVector256(src + 40), w, b2);
                a3 = Fma.MultiplyAdd(Avx.LoadVector256(src + 48), w, a3); b3 = Fma.MultiplyAdd(Avx.LoadVector256(src + 56), w, b3);
                a4 = Fma.MultiplyAdd(Avx.LoadVector256(src + 64), w, a4); b4 = Fma.MultiplyAdd(Avx.LoadVector256(src + 72), w, b4);
                a5 = Fma.MultiplyAdd(Avx.LoadVector256(src + 80), w, a5); b5 = Fma.MultiplyAdd(Avx.LoadVector256(src + 88), w, b5);
            }
            var dst = output + (long)t * rowStep;
            Avx.Store(dst, a0); Avx.Store(dst + 8, b0); dst += outPlane;
            Avx.Store(dst, a1); Avx.Store(dst + 8, b1); dst += outPlane;
            Avx.Store(dst, a2); Avx.Store(dst + 8, b2); dst += outPlane;
            Avx.Store(dst, a3); Avx.Store(dst + 8, b3); dst += outPlane;
            Avx.Store(dst, a4); Avx.Store(dst + 8, b4); dst += outPlane;
            Avx.Store(dst, a5); Avx.Store(dst + 8, b5);
        }
        if (act >= 0)
        {
            for (var t = 0; t < _m; t++) Convolution.ActivateBlock(output + (long)t * rowStep, outPlane, act);
        }
    }

    /// <summary>
    /// Aᵀ (m × n), G (n × k) and Bᵀ (n × n) of F(m, k) for correlation, y = Aᵀ[(G·g) ⊙ (Bᵀ·d)], from the Toom–Cook
    /// product of polynomials on n − 1 finite points and ∞: with E_r the evaluation of a polynomial of r coefficients
    /// at the points (∞ giving its leading coefficient) and C the interpolation of n values, the linear convolution
    /// is C·diag(E_k·g)·E_m, so correlation, its transpose, is E_mᵀ·diag(E_k·g)·Cᵀ. The Lagrange denominators are moved
    /// from C into G, so that Bᵀ holds the integer coefficients of products of (x − a).
    /// </summary>
    public static (double[,] at, double[,] g, double[,] bt) Matrices(int m, int k)
    {
        var n = m + k - 1;
        var points = Points(n - 1);
        var at = new double[m, n];
        var g = new double[n, k];
        var bt = new double[n, n];
        for (var i = 0; i < n - 1; i++)
        {
            var a = points[i];
            for (var t = 0; t < m; t++) at[t, i] = Math.Pow(a, t);
            var f = 1.0;
            for (var j = 0; j < n - 1; j++) if (j != i) f *= a - points[j];
            for (var r = 0; r < k; r++) g[i, r] = Math.Pow(a, r) / f;
            var c = Product(points, skip: i);
            for (var l = 0; l < n; l++) bt[i, l] = l < c.Length ? c[l] : 0;
        }
        at[m - 1, n - 1] = 1;
        g[n - 1, k - 1] = 1;
        var p = Product(points, skip: -1);
        for (var l = 0; l < n; l++) bt[n - 1, l] = p[l];
        return (at, g, bt);
    }

    /// <summary>0, 1, −1, 2, −2, 1/2, −1/2, 3, −3, … : the usual small points, which keep the transforms' entries small.</summary>
    private static double[] Points(int count)
    {
        var candidates = new List<double> { 0, 1, -1, 2, -2, 0.5, -0.5, 3, -3, 1.0 / 3, -1.0 / 3, 4, -4 };
        if (count > candidates.Count) throw new ArgumentOutOfRangeException(nameof(count), $"at most {candidates.Count} finite points");
        return candidates.Take(count).ToArray();
    }

    /// <summary>Coefficients (constant first) of Π_{j ≠ skip} (x − a_j).</summary>
    private static double[] Product(double[] points, int skip)
    {
        var c = new List<double> { 1 };
        for (var j = 0; j < points.Length; j++)
        {
            if (j == skip) continue;
            var next = new double[c.Count + 1];
            for (var l = 0; l < c.Count; l++)
            {
                next[l + 1] += c[l];
                next[l] -= points[j] * c[l];
            }
            c = [.. next];
        }
        return [.. c];
    }
}
