using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DeepEM.Numerics.Layers;

/// <summary>
/// Valid 2D convolution of every input map into every output map (the DeepEM C-layers), forward and both
/// backward passes, on one box.
///
/// Layout: each map is a plane of rows with a stride; the kernels here treat a plane as one flat run of
/// pixels, p = y·stride + x, and compute out[p] = Σ in[p + ky·stride + kx]·w for every p of the output
/// rows. Positions with x ≥ output width are computed too and hold garbage that nothing reads; in exchange
/// the inner loop has no row ends, and output and input share one stride. Input planes must therefore
/// hold <see cref="PlaneSlack"/> readable floats past their last row.
///
/// The forward kernel computes 16 output pixels × 6 output maps at once: 12 AVX accumulators, two input
/// loads and six broadcasts per kernel tap, which keeps both FMA units busy. Kernels are repacked so the
/// six weights of a tap are adjacent (<see cref="PackWeights"/>). Output maps are padded to a multiple of six.
/// </summary>
public static class Convolution
{
    public const int OutputBlock = 6;
    public const int PixelBlock = 16;

    /// <summary>Floats an input plane must have readable beyond height·stride for kernel size k.</summary>
    public static int PlaneSlack(int kernel) => kernel + PixelBlock;

    /// <summary>Output maps padded up to a whole number of 6-map blocks.</summary>
    public static int PaddedOutputs(int outChannels) => (outChannels + OutputBlock - 1) / OutputBlock * OutputBlock;

    /// <summary>
    /// Repacks kernels w[o][i][ky][kx] (optionally flipped and with in/out swapped, for the backward data
    /// pass) into [oBlock][i][ky][kx][6], zero-filling the padding maps.
    /// </summary>
    public static void PackWeights(ReadOnlySpan<float> weights, int outChannels, int inChannels, int k, Span<float> packed, bool flipAndTranspose = false)
    {
        // With flipAndTranspose the packed kernel is w'[i][o][ky][kx] = w[o][i][k−1−ky][k−1−kx]: "outputs" are the original inputs.
        var packedOut = flipAndTranspose ? inChannels : outChannels;
        var packedIn = flipAndTranspose ? outChannels : inChannels;
        var blocks = PaddedOutputs(packedOut) / OutputBlock;
        packed[..(blocks * packedIn * k * k * OutputBlock)].Clear();
        for (var o = 0; o < packedOut; o++)
        {
            var block = o / OutputBlock;
            var lane = o % OutputBlock;
            for (var i = 0; i < packedIn; i++)
            {
                for (var ky = 0; ky < k; ky++)
                {
                    for (var kx = 0; kx < k; kx++)
                    {
                        var src = flipAndTranspose
                            ? ((i * inChannels + o) * k + (k - 1 - ky)) * k + (k - 1 - kx)
                            : ((o * inChannels + i) * k + ky) * k + kx;
                        packed[(((block * packedIn + i) * k + ky) * k + kx) * OutputBlock + lane] = weights[src];
                    }
                }
            }
        }
    }

    public static int PackedLength(int outChannels, int inChannels, int k) => PaddedOutputs(outChannels) * inChannels * k * k;

    /// <summary>
    /// out[o][p] = bias[o] + Σ_i Σ_ky Σ_kx in[i][p + d·(ky·stride + kx)]·w[o][i][ky][kx], for p in [0, outRows·stride),
    /// d the dilation: 1 for a box, the product of the earlier poolings when a whole micrograph is scored at
    /// once (see DenseScorer).
    /// <paramref name="output"/> holds PaddedOutputs(outChannels) planes of <paramref name="outPlane"/> floats;
    /// the padding maps receive garbage.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Forward(
        ReadOnlySpan<float> input, int inChannels, int inPlane, int stride,
        ReadOnlySpan<float> packedWeights, ReadOnlySpan<float> bias, int outChannels, int k,
        Span<float> output, int outRows, int outPlane, int dilation = 1, Network.Activation? activation = null)
    {
        // The activation is applied as the accumulators are stored: one pass over the maps instead of two.
        var act = activation is { } a ? (int)a : -1;
        var count = outRows * stride;
        var chunks = (count + PixelBlock - 1) / PixelBlock;
        if (outPlane < chunks * PixelBlock)
        {
            throw new ArgumentException($"output plane {outPlane} < {chunks * PixelBlock}");
        }
        if (inPlane < (outRows + dilation * (k - 1)) * stride + dilation * (k - 1) + PixelBlock)
        {
            throw new ArgumentException($"input plane {inPlane} too small for {outRows} rows of stride {stride}, kernel {k}");
        }
        var blocks = PaddedOutputs(outChannels) / OutputBlock;
        var tapsPerBlock = inChannels * k * k * OutputBlock;
        var wide = VectorWidth.Wide;
        Span<float> biasPadded = stackalloc float[blocks * OutputBlock];
        biasPadded.Clear();
        bias[..outChannels].CopyTo(biasPadded);
        fixed (float* inBase = input)
        fixed (float* wBase = packedWeights)
        fixed (float* outBase = output)
        fixed (float* bBase = biasPadded)
        {
            for (var b = 0; b < blocks; b++)
            {
                var w = wBase + b * tapsPerBlock;
                var o = outBase + b * OutputBlock * outPlane;
                if (wide)
                {
                    // Pairs of chunks on 512-bit vectors; an odd last chunk on 256-bit ones, so that the planes' contract stays.
                    ForwardBlockWide(inBase, inChannels, inPlane, stride, w, k, bBase + b * OutputBlock, o, outPlane, chunks / 2, dilation, act);
                    if (chunks % 2 == 1)
                    {
                        ForwardBlockFma(inBase, inChannels, inPlane, stride, w, k, bBase + b * OutputBlock, o, outPlane, chunks - 1, chunks, dilation, act);
                    }
                }
                else if (Fma.IsSupported)
                {
                    ForwardBlockFma(inBase, inChannels, inPlane, stride, w, k, bBase + b * OutputBlock, o, outPlane, 0, chunks, dilation, act);
                }
                else
                {
                    ForwardBlockScalar(inBase, inChannels, inPlane, stride, w, k, bBase + b * OutputBlock, o, outPlane, chunks * PixelBlock, dilation, act);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ForwardBlockFma(float* input, int inChannels, int inPlane, int stride, float* w, int k,
        float* bias, float* output, int outPlane, int from, int to, int dilation, int act)
    {
        var rowStep = dilation * stride;
        for (var c = from; c < to; c++)
        {
            var p = c * PixelBlock;
            var a0 = Vector256.Create(bias[0]); var b0 = a0;
            var a1 = Vector256.Create(bias[1]); var b1 = a1;
            var a2 = Vector256.Create(bias[2]); var b2 = a2;
            var a3 = Vector256.Create(bias[3]); var b3 = a3;
            var a4 = Vector256.Create(bias[4]); var b4 = a4;
            var a5 = Vector256.Create(bias[5]); var b5 = a5;
            var tap = w;
            for (var i = 0; i < inChannels; i++)
            {
                var plane = input + i * inPlane + p;
                for (var ky = 0; ky < k; ky++)
                {
                    var row = plane + ky * rowStep;
                    for (var kx = 0; kx < k; kx++, tap += OutputBlock)
                    {
                        Tap(row + kx * dilation, tap, ref a0, ref b0, ref a1, ref b1, ref a2, ref b2, ref a3, ref b3, ref a4, ref b4, ref a5, ref b5);
                    }
                }
            }
            var dst = output + p;
            Avx.Store(dst, a0); Avx.Store(dst + 8, b0); dst += outPlane;
            Avx.Store(dst, a1); Avx.Store(dst + 8, b1); dst += outPlane;
            Avx.Store(dst, a2); Avx.Store(dst + 8, b2); dst += outPlane;
            Avx.Store(dst, a3); Avx.Store(dst + 8, b3); dst += outPlane;
            Avx.Store(dst, a4); Avx.Store(dst + 8, b4); dst += outPlane;
            Avx.Store(dst, a5); Avx.Store(dst + 8, b5);
            if (act >= 0)
            {
                // While the block is still in L1; a call, so that the exponential's temporaries do not
                // crowd the twelve accumulators out of registers in the loop above.
                ActivateBlock(output + p, outPlane, act);
            }
        }
    }

    /// <summary>
    /// <see cref="ForwardBlockFma"/> on 512-bit vectors: 32 pixels × 6 maps a step (twelve accumulators), each pixel summed in
    /// the same order as there, so the same to the bit (<see cref="VectorWidth"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ForwardBlockWide(float* input, int inChannels, int inPlane, int stride, float* w, int k,
        float* bias, float* output, int outPlane, int pairs, int dilation, int act)
    {
        var rowStep = dilation * stride;
        for (var c = 0; c < pairs; c++)
        {
            var p = c * 2 * PixelBlock;
            var a0 = Vector512.Create(bias[0]); var b0 = a0;
            var a1 = Vector512.Create(bias[1]); var b1 = a1;
            var a2 = Vector512.Create(bias[2]); var b2 = a2;
            var a3 = Vector512.Create(bias[3]); var b3 = a3;
            var a4 = Vector512.Create(bias[4]); var b4 = a4;
            var a5 = Vector512.Create(bias[5]); var b5 = a5;
            var tap = w;
            for (var i = 0; i < inChannels; i++)
            {
                var plane = input + i * inPlane + p;
                for (var ky = 0; ky < k; ky++)
                {
                    var row = plane + ky * rowStep;
                    for (var kx = 0; kx < k; kx++, tap += OutputBlock)
                    {
                        Tap(row + kx * dilation, tap, ref a0, ref b0, ref a1, ref b1, ref a2, ref b2, ref a3, ref b3, ref a4, ref b4, ref a5, ref b5);
                    }
                }
            }
            var dst = output + p;
            if (act >= 0) ActivateInRegisters(ref a0, ref b0, ref a1, ref b1, ref a2, ref b2, ref a3, ref b3, ref a4, ref b4, ref a5, ref b5, act);
            Avx512F.Store(dst, a0); Avx512F.Store(dst + 16, b0); dst += outPlane;
            Avx512F.Store(dst, a1); Avx512F.Store(dst + 16, b1); dst += outPlane;
            Avx512F.Store(dst, a2); Avx512F.Store(dst + 16, b2); dst += outPlane;
            Avx512F.Store(dst, a3); Avx512F.Store(dst + 16, b3); dst += outPlane;
            Avx512F.Store(dst, a4); Avx512F.Store(dst + 16, b4); dst += outPlane;
            Avx512F.Store(dst, a5); Avx512F.Store(dst + 16, b5);
        }
    }

    /// <summary>
    /// One kernel tap of the register block: 16 pixels at <paramref name="pixels"/> times the tap's six weights, added to the
    /// twelve accumulators (a: pixels 0–7, b: 8–15, one pair per output map). Inlined, the accumulators stay in registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void Tap(float* pixels, float* tap,
        ref Vector256<float> a0, ref Vector256<float> b0, ref Vector256<float> a1, ref Vector256<float> b1,
        ref Vector256<float> a2, ref Vector256<float> b2, ref Vector256<float> a3, ref Vector256<float> b3,
        ref Vector256<float> a4, ref Vector256<float> b4, ref Vector256<float> a5, ref Vector256<float> b5)
    {
        var v0 = Avx.LoadVector256(pixels);
        var v1 = Avx.LoadVector256(pixels + 8);
        var wv = Vector256.Create(tap[0]);
        a0 = Fma.MultiplyAdd(v0, wv, a0); b0 = Fma.MultiplyAdd(v1, wv, b0);
        wv = Vector256.Create(tap[1]);
        a1 = Fma.MultiplyAdd(v0, wv, a1); b1 = Fma.MultiplyAdd(v1, wv, b1);
        wv = Vector256.Create(tap[2]);
        a2 = Fma.MultiplyAdd(v0, wv, a2); b2 = Fma.MultiplyAdd(v1, wv, b2);
        wv = Vector256.Create(tap[3]);
        a3 = Fma.MultiplyAdd(v0, wv, a3); b3 = Fma.MultiplyAdd(v1, wv, b3);
        wv = Vector256.Create(tap[4]);
        a4 = Fma.MultiplyAdd(v0, wv, a4); b4 = Fma.MultiplyAdd(v1, wv, b4);
        wv = Vector256.Create(tap[5]);
        a5 = Fma.MultiplyAdd(v0, wv, a5); b5 = Fma.MultiplyAdd(v1, wv, b5);
    }

    /// <summary><see cref="Tap"/> on 512-bit vectors: 32 pixels (a: 0–15, b: 16–31) times the tap's six weights.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void Tap(float* pixels, float* tap,
        ref Vector512<float> a0, ref Vector512<float> b0, ref Vector512<float> a1, ref Vector512<float> b1,
        ref Vector512<float> a2, ref Vector512<float> b2, ref Vector512<float> a3, ref Vector512<float> b3,
        ref Vector512<float> a4, ref Vector512<float> b4, ref Vector512<float> a5, ref Vector512<float> b5)
    {
        var v0 = Avx512F.LoadVector512(pixels);
        var v1 = Avx512F.LoadVector512(pixels + 16);
        var wv = Vector512.Create(tap[0]);
        a0 = Avx512F.FusedMultiplyAdd(v0, wv, a0); b0 = Avx512F.FusedMultiplyAdd(v1, wv, b0);
        wv = Vector512.Create(tap[1]);
        a1 = Avx512F.FusedMultiplyAdd(v0, wv, a1); b1 = Avx512F.FusedMultiplyAdd(v1, wv, b1);
        wv = Vector512.Create(tap[2]);
        a2 = Avx512F.FusedMultiplyAdd(v0, wv, a2); b2 = Avx512F.FusedMultiplyAdd(v1, wv, b2);
        wv = Vector512.Create(tap[3]);
        a3 = Avx512F.FusedMultiplyAdd(v0, wv, a3); b3 = Avx512F.FusedMultiplyAdd(v1, wv, b3);
        wv = Vector512.Create(tap[4]);
        a4 = Avx512F.FusedMultiplyAdd(v0, wv, a4); b4 = Avx512F.FusedMultiplyAdd(v1, wv, b4);
        wv = Vector512.Create(tap[5]);
        a5 = Avx512F.FusedMultiplyAdd(v0, wv, a5); b5 = Avx512F.FusedMultiplyAdd(v1, wv, b5);
    }

    /// <summary>
    /// The hidden activation of a 512-bit register block before it is stored: AVX-512's 32 registers hold the twelve
    /// sums and the exponential's temporaries alike, so the block is not stored, loaded and stored again (as the 256-bit
    /// kernels must, with 16 registers). The same operations per lane as <see cref="ActivateBlock"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void ActivateInRegisters(
        ref Vector512<float> a0, ref Vector512<float> b0, ref Vector512<float> a1, ref Vector512<float> b1,
        ref Vector512<float> a2, ref Vector512<float> b2, ref Vector512<float> a3, ref Vector512<float> b3,
        ref Vector512<float> a4, ref Vector512<float> b4, ref Vector512<float> a5, ref Vector512<float> b5, int act)
    {
        a0 = Activate(a0, act); b0 = Activate(b0, act);
        a1 = Activate(a1, act); b1 = Activate(b1, act);
        a2 = Activate(a2, act); b2 = Activate(b2, act);
        a3 = Activate(a3, act); b3 = Activate(b3, act);
        a4 = Activate(a4, act); b4 = Activate(b4, act);
        a5 = Activate(a5, act); b5 = Activate(b5, act);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void ActivateBlock(float* block, int outPlane, int act)
    {
        for (var lane = 0; lane < OutputBlock; lane++)
        {
            var row = block + lane * outPlane;
            Avx.Store(row, Activate(Avx.LoadVector256(row), act));
            Avx.Store(row + 8, Activate(Avx.LoadVector256(row + 8), act));
        }
    }

    /// <summary>The hidden activation on a vector: 0 the sigmoid 1/(1 + e^−x), 1 the rectifier.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Activate(Vector256<float> v, int act) => act == 1
        ? Vector256.Max(v, Vector256<float>.Zero)
        : Vector256<float>.One / (Vector256<float>.One + (VectorExp.IsSupported ? VectorExp.Exp(-v) : Vector256.Exp(-v)));

    /// <summary>The same on sixteen floats, lane for lane the eight-float form's operations.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Activate(Vector512<float> v, int act) => act == 1
        ? Vector512.Max(v, Vector512<float>.Zero)
        : Vector512<float>.One / (Vector512<float>.One + VectorExp.Exp(-v));

    /// <summary>The same on one value, with the same exponential as the vector form.</summary>
    public static float Activate(float v, int act) => act == 1 ? MathF.Max(v, 0f) : Activate(Vector256.Create(v), act).GetElement(0);

    /// <summary>Portable path for processors without FMA (and the reference for what the FMA path computes).</summary>
    private static unsafe void ForwardBlockScalar(float* input, int inChannels, int inPlane, int stride, float* w, int k,
        float* bias, float* output, int outPlane, int count, int dilation, int act)
    {
        for (var lane = 0; lane < OutputBlock; lane++)
        {
            var dst = output + lane * outPlane;
            for (var p = 0; p < count; p++)
            {
                var sum = bias[lane];
                var tap = w + lane;
                for (var i = 0; i < inChannels; i++)
                {
                    var plane = input + i * inPlane + p;
                    for (var ky = 0; ky < k; ky++)
                    {
                        for (var kx = 0; kx < k; kx++, tap += OutputBlock)
                        {
                            sum += plane[dilation * (ky * stride + kx)] * *tap;
                        }
                    }
                }
                dst[p] = act >= 0 ? Activate(sum, act) : sum;
            }
        }
    }

    /// <summary>
    /// Gradient with respect to the input: dIn[i][y][x] = Σ_o Σ_ky Σ_kx dOut[o][y−ky][x−kx]·w[o][i][ky][kx].
    /// It is the forward kernel applied to dOut zero-padded by k−1 on every side, with kernels flipped and
    /// in/out swapped (<see cref="PackWeights"/> with flipAndTranspose). <paramref name="padded"/> receives
    /// the padded copy of dOut (stride <c>inWidth + k − 1</c>); dIn comes out with that same stride.
    /// </summary>
    public static void BackwardData(
        ReadOnlySpan<float> dOut, int outChannels, int outPlane, int outStride, int outHeight, int outWidth,
        ReadOnlySpan<float> packedFlipped, int inChannels, int k,
        Span<float> padded, int paddedPlane,
        Span<float> dIn, int dInPlane)
    {
        var inHeight = outHeight + k - 1;
        var paddedStride = outWidth + 2 * (k - 1);
        padded[..(outChannels * paddedPlane)].Clear();
        for (var o = 0; o < outChannels; o++)
        {
            for (var y = 0; y < outHeight; y++)
            {
                dOut.Slice(o * outPlane + y * outStride, outWidth)
                    .CopyTo(padded.Slice(o * paddedPlane + (y + k - 1) * paddedStride + (k - 1), outWidth));
            }
        }
        Span<float> noBias = stackalloc float[PaddedOutputs(inChannels)];
        noBias.Clear();
        Forward(padded, outChannels, paddedPlane, paddedStride, packedFlipped, noBias, inChannels, k, dIn, inHeight, dInPlane);
    }

    /// <summary>Floats of one padded dOut plane for <see cref="BackwardData"/>.</summary>
    public static int PaddedPlaneSize(int inHeight, int inWidth, int k) =>
        (inHeight + k - 1) * (inWidth + k - 1) + PlaneSlack(k);

    /// <summary>
    /// Gradient with respect to kernels and biases, accumulated (+=):
    /// dW[o][i][ky][kx] += Σ_p dOut[o][p]·in[i][p + ky·stride + kx], dB[o] += Σ_p dOut[o][p], over p in
    /// [0, rows·stride). dOut must be zero at the garbage positions (x ≥ output width) and up to the next
    /// multiple of 8 past the last row, so that the flat vector sums are exact.
    ///
    /// The FMA path holds 6 output maps × 2 kernel columns = 12 accumulators, so each step loads 6 dOut
    /// vectors and 2 input vectors for 12 FMAs.
    /// </summary>
    public static unsafe void BackwardWeights(
        ReadOnlySpan<float> input, int inChannels, int inPlane, int stride,
        ReadOnlySpan<float> dOut, int outChannels, int outPlane, int outRows, int k,
        Span<float> dWeights, Span<float> dBias)
    {
        var count = outRows * stride;
        var vectors = (count + 7) / 8;
        if (outPlane < vectors * 8)
        {
            throw new ArgumentException($"output plane {outPlane} < {vectors * 8}");
        }
        fixed (float* inBase = input)
        fixed (float* dBase = dOut)
        fixed (float* dw = dWeights)
        {
            for (var o = 0; o < outChannels; o++)
            {
                var d = dBase + o * outPlane;
                double biasSum = 0;
                for (var p = 0; p < count; p++) biasSum += d[p];
                dBias[o] += (float)biasSum;
            }
            var o0 = 0;
            if (Fma.IsSupported)
            {
                for (; o0 + OutputBlock <= outChannels; o0 += OutputBlock)
                {
                    for (var i = 0; i < inChannels; i++)
                    {
                        for (var ky = 0; ky < k; ky++)
                        {
                            var row = inBase + i * inPlane + ky * stride;
                            var kx = 0;
                            for (; kx + 1 < k; kx += 2)
                            {
                                WeightsBlock6x2(dBase + o0 * outPlane, outPlane, row + kx, vectors, dw, o0, i, inChannels, ky, kx, k);
                            }
                            for (; kx < k; kx++)
                            {
                                for (var o = o0; o < o0 + OutputBlock; o++)
                                {
                                    dw[((o * inChannels + i) * k + ky) * k + kx] += Dot(dBase + o * outPlane, row + kx, vectors);
                                }
                            }
                        }
                    }
                }
            }
            for (var o = o0; o < outChannels; o++)
            {
                var d = dBase + o * outPlane;
                for (var i = 0; i < inChannels; i++)
                {
                    for (var ky = 0; ky < k; ky++)
                    {
                        var row = inBase + i * inPlane + ky * stride;
                        for (var kx = 0; kx < k; kx++)
                        {
                            dw[((o * inChannels + i) * k + ky) * k + kx] += Fma.IsSupported ? Dot(d, row + kx, vectors) : DotScalar(d, row + kx, count);
                        }
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void WeightsBlock6x2(float* d, int outPlane, float* src, int vectors, float* dw, int o0, int i, int inChannels, int ky, int kx, int k)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default;
        for (var v = 0; v < vectors; v++)
        {
            var p = v * 8;
            var x0 = Avx.LoadVector256(src + p);
            var x1 = Avx.LoadVector256(src + p + 1);
            var dv = Avx.LoadVector256(d + p);
            a0 = Fma.MultiplyAdd(dv, x0, a0); b0 = Fma.MultiplyAdd(dv, x1, b0);
            dv = Avx.LoadVector256(d + outPlane + p);
            a1 = Fma.MultiplyAdd(dv, x0, a1); b1 = Fma.MultiplyAdd(dv, x1, b1);
            dv = Avx.LoadVector256(d + 2 * outPlane + p);
            a2 = Fma.MultiplyAdd(dv, x0, a2); b2 = Fma.MultiplyAdd(dv, x1, b2);
            dv = Avx.LoadVector256(d + 3 * outPlane + p);
            a3 = Fma.MultiplyAdd(dv, x0, a3); b3 = Fma.MultiplyAdd(dv, x1, b3);
            dv = Avx.LoadVector256(d + 4 * outPlane + p);
            a4 = Fma.MultiplyAdd(dv, x0, a4); b4 = Fma.MultiplyAdd(dv, x1, b4);
            dv = Avx.LoadVector256(d + 5 * outPlane + p);
            a5 = Fma.MultiplyAdd(dv, x0, a5); b5 = Fma.MultiplyAdd(dv, x1, b5);
        }
        var stride = inChannels * k * k;
        var w = dw + ((o0 * inChannels + i) * k + ky) * k + kx;
        w[0] += Vector256.Sum(a0); w[1] += Vector256.Sum(b0); w += stride;
        w[0] += Vector256.Sum(a1); w[1] += Vector256.Sum(b1); w += stride;
        w[0] += Vector256.Sum(a2); w[1] += Vector256.Sum(b2); w += stride;
        w[0] += Vector256.Sum(a3); w[1] += Vector256.Sum(b3); w += stride;
        w[0] += Vector256.Sum(a4); w[1] += Vector256.Sum(b4); w += stride;
        w[0] += Vector256.Sum(a5); w[1] += Vector256.Sum(b5);
    }

    private static unsafe float Dot(float* d, float* src, int vectors)
    {
        var acc = Vector256<float>.Zero;
        for (var v = 0; v < vectors; v++)
        {
            acc = Fma.MultiplyAdd(Avx.LoadVector256(d + v * 8), Avx.LoadVector256(src + v * 8), acc);
        }
        return Vector256.Sum(acc);
    }

    private static unsafe float DotScalar(float* d, float* src, int count)
    {
        var sum = 0f;
        for (var p = 0; p < count; p++) sum += d[p] * src[p];
        return sum;
    }
}
