using ILGPU;
using ILGPU.Algorithms;

namespace DeepEM.Numerics.Backends.Ilgpu;

/// <summary>
/// One dense stage over a band in the flat-plane layout of <see cref="Scoring.DenseScorer"/>: planes of rows with a
/// row stride, positions past a row's valid width computed and ignored. The stage reads its input through the
/// previous stage's pooling (<see cref="InPool"/> pixels <see cref="InPoolDilation"/> apart, 1 for the image), so the
/// pooled maps are never written to device memory.
/// </summary>
public struct DenseShape
{
    public int InChannels;
    public int OutChannels;
    public int Kernel;
    public int Stride;
    /// <summary>How far apart this stage's taps are: the product of the poolings before it.</summary>
    public int Dilation;
    /// <summary>Floats per channel plane of the buffer read (rows × stride + slack).</summary>
    public int InPlane;
    public int InPool;
    public int InPoolDilation;
    /// <summary>How far past a pooled value's position its pooling reads: its last pixel's offset.</summary>
    public int InReach;
    public int OutPlane;
    /// <summary>Rows of output computed.</summary>
    public int OutRows;
    public int Activation;
}

/// <summary>Where the rotated copies of a micrograph sit in one tall plane (<see cref="IlgpuDenseKernels.PlaceRotations"/>).</summary>
public struct RotationShape
{
    public int Width;
    public int Height;
    public int Stride;
    public int Rotations;
    public int Box;
}

/// <summary>
/// The dense (whole-micrograph) kernels of the GPU path.
///
/// <see cref="ConvTiled"/> is the convolution: a dilated convolution is d² ordinary ones, one per phase (the pixels
/// whose row and column have the same remainders mod d), so a group takes a 16×16 tile of one phase's outputs, loads
/// the tile's input with its halo into shared memory once per input channel, and each thread computes two output
/// rows of six maps from registers (twelve accumulators): every shared value read feeds six multiply-adds, every
/// weight read (the same address across the group) twelve. Sums run in the order of the per-box path (bias, then
/// channel, kernel row, kernel column), so the scores are those of the managed backend to rounding.
///
/// All rotations of a micrograph are stacked in one tall plane (<see cref="PlaceRotations"/>), so one launch per
/// stage scores all four orientations; <see cref="Recombine"/> averages them on the device, and one map comes back.
/// </summary>
public static class IlgpuDenseKernels
{
    public const int TileSize = 16;
    public const int GroupWidth = 16;
    public const int GroupRows = 8;
    public const int MapsPerThread = 6;

    /// <summary>The input at flat position <paramref name="at"/> as the stage sees it: through the previous pooling.</summary>
    private static float Pooled(ArrayView<float> input, int at, DenseShape s)
    {
        if (s.InPool == 1) return input[at];
        var acc = 0f;
        for (var dy = 0; dy < s.InPool; dy++)
        {
            var row = at + s.InPoolDilation * dy * s.Stride;
            var sum = 0f;
            for (var dx = 0; dx < s.InPool; dx++)
            {
                sum += input[row + s.InPoolDilation * dx];
            }
            acc += sum;
        }
        return acc / (s.InPool * s.InPool);
    }

    /// <summary>
    /// Convolution and activation of one stage. Grid: X = column tiles × d (phase column folded in), Y = row tiles × d,
    /// Z = blocks of <see cref="MapsPerThread"/> output maps; group <see cref="GroupWidth"/> × <see cref="GroupRows"/>;
    /// dynamic shared memory (<see cref="TileSize"/> + kernel − 1)² floats.
    /// </summary>
    public static void ConvTiled(ArrayView<float> input, ArrayView<float> weights, ArrayView<float> bias, ArrayView<float> output, DenseShape s)
    {
        var tile = SharedMemory.GetDynamic<float>();
        int k = s.Kernel, d = s.Dilation, tw = TileSize + k - 1;
        int px = Grid.IdxX % d, tj0 = Grid.IdxX / d * TileSize;
        int py = Grid.IdxY % d, ti0 = Grid.IdxY / d * TileSize;
        int o0 = Grid.IdxZ * MapsPerThread, last = s.OutChannels - 1;
        int lx = Group.IdxX, ly = Group.IdxY;
        // Maps past the last are computed on the last one's weights and not written: no branch in the inner loop.
        int m0 = XMath.Min(o0, last), m1 = XMath.Min(o0 + 1, last), m2 = XMath.Min(o0 + 2, last);
        int m3 = XMath.Min(o0 + 3, last), m4 = XMath.Min(o0 + 4, last), m5 = XMath.Min(o0 + 5, last);
        float a0 = bias[m0], a1 = bias[m1], a2 = bias[m2], a3 = bias[m3], a4 = bias[m4], a5 = bias[m5];
        float b0 = a0, b1 = a1, b2 = a2, b3 = a3, b4 = a4, b5 = a5;
        var perMap = s.InChannels * k * k;
        for (var c = 0; c < s.InChannels; c++)
        {
            Group.Barrier();
            for (var e = ly * GroupWidth + lx; e < tw * tw; e += GroupWidth * GroupRows)
            {
                var ti = e / tw;
                var tj = e - ti * tw;
                var q = (py + d * (ti0 + ti)) * s.Stride + px + d * (tj0 + tj);
                // Positions past the plane feed only outputs past the valid rows and columns.
                tile[e] = q + s.InReach < s.InPlane ? Pooled(input, c * s.InPlane + q, s) : 0f;
            }
            Group.Barrier();
            var wc = c * k * k;
            for (var ky = 0; ky < k; ky++)
            {
                var top = (ly + ky) * tw + lx;
                var bottom = (ly + GroupRows + ky) * tw + lx;
                for (var kx = 0; kx < k; kx++)
                {
                    var v0 = tile[top + kx];
                    var v1 = tile[bottom + kx];
                    var w = wc + ky * k + kx;
                    var w0 = weights[m0 * perMap + w];
                    var w1 = weights[m1 * perMap + w];
                    var w2 = weights[m2 * perMap + w];
                    var w3 = weights[m3 * perMap + w];
                    var w4 = weights[m4 * perMap + w];
                    var w5 = weights[m5 * perMap + w];
                    a0 += v0 * w0; b0 += v1 * w0;
                    a1 += v0 * w1; b1 += v1 * w1;
                    a2 += v0 * w2; b2 += v1 * w2;
                    a3 += v0 * w3; b3 += v1 * w3;
                    a4 += v0 * w4; b4 += v1 * w4;
                    a5 += v0 * w5; b5 += v1 * w5;
                }
            }
        }
        var x = px + d * (tj0 + lx);
        if (x >= s.Stride) return;
        var y = py + d * (ti0 + ly);
        if (y < s.OutRows)
        {
            Store(output, y * s.Stride + x, o0, s, a0, a1, a2, a3, a4, a5);
        }
        y += d * GroupRows;
        if (y < s.OutRows)
        {
            Store(output, y * s.Stride + x, o0, s, b0, b1, b2, b3, b4, b5);
        }
    }

    private static void Store(ArrayView<float> output, int q, int o0, DenseShape s, float v0, float v1, float v2, float v3, float v4, float v5)
    {
        var at = o0 * s.OutPlane + q;
        var n = s.OutChannels - o0;
        output[at] = IlgpuKernels.Activate(v0, s.Activation);
        if (n > 1) output[at + s.OutPlane] = IlgpuKernels.Activate(v1, s.Activation);
        if (n > 2) output[at + 2 * s.OutPlane] = IlgpuKernels.Activate(v2, s.Activation);
        if (n > 3) output[at + 3 * s.OutPlane] = IlgpuKernels.Activate(v3, s.Activation);
        if (n > 4) output[at + 4 * s.OutPlane] = IlgpuKernels.Activate(v4, s.Activation);
        if (n > 5) output[at + 5 * s.OutPlane] = IlgpuKernels.Activate(v5, s.Activation);
    }

    /// <summary>The output unit over the last stage's activations, pooled as they are read; its bias is the last weight.</summary>
    public static void Output(Index1D q, ArrayView<float> act, ArrayView<float> weightsAndBias, ArrayView<float> scores, DenseShape s)
    {
        var n = s.InChannels * s.Kernel * s.Kernel;
        var z = weightsAndBias[n];
        var w = 0;
        for (var c = 0; c < s.InChannels; c++)
        {
            for (var u = 0; u < s.Kernel; u++)
            {
                var sum = 0f;
                for (var v = 0; v < s.Kernel; v++, w++)
                {
                    sum += Pooled(act, c * s.InPlane + q + s.Dilation * (u * s.Stride + v), s) * weightsAndBias[w];
                }
                z += sum;
            }
        }
        scores[q] = 1f / (1f + XMath.Exp(-z));
    }

    /// <summary>
    /// The micrograph's rotations one below the other at a common stride, as <see cref="Training.BoxRotation.RotateImage"/>
    /// turns them: rotation 0 (h rows), 1 (w rows, h wide), 2 (h rows), 3 (w rows, h wide); columns past a rotation's width zero.
    /// </summary>
    public static void PlaceRotations(Index1D index, ArrayView<float> image, ArrayView<float> tall, RotationShape t)
    {
        int w = t.Width, h = t.Height;
        var row = index / t.Stride;
        var col = index - row * t.Stride;
        var r = row < h ? 0 : row < h + w ? 1 : row < 2 * h + w ? 2 : 3;
        var y = row - (r == 0 ? 0 : r == 1 ? h : r == 2 ? h + w : 2 * h + w);
        var width = r % 2 == 0 ? w : h;
        var value = 0f;
        if (col < width)
        {
            // The inverse of each turn: which source pixel lands at (col, y).
            var source = r == 0 ? y * w + col
                : r == 1 ? col * w + (w - 1 - y)
                : r == 2 ? (h - 1 - y) * w + (w - 1 - col)
                : (h - 1 - col) * w + y;
            value = image[source];
        }
        tall[index] = value;
    }

    /// <summary>Each rotation's scores turned back and the four averaged in the per-box order (as the CPU's recombination).</summary>
    public static void Recombine(Index1D index, ArrayView<float> tallScores, ArrayView<float> scores, RotationShape t)
    {
        int w = t.Width, h = t.Height, box = t.Box, outW = w - box + 1;
        var y0 = index / outW;
        var x0 = index - y0 * outW;
        var s = tallScores[y0 * t.Stride + x0];
        if (t.Rotations == 4)
        {
            s += tallScores[(h + w - x0 - box) * t.Stride + y0];
            s += tallScores[(h + w + h - y0 - box) * t.Stride + (w - x0 - box)];
            s += tallScores[(2 * h + w + x0) * t.Stride + (h - y0 - box)];
            s /= 4;
        }
        scores[index] = s;
    }

    /// <summary>
    /// The test of <see cref="Scoring.LocalMaxima.IsMaximum"/> at every position; the maxima are appended (in no
    /// particular order: the host sorts them) to <paramref name="positions"/> and <paramref name="values"/>, their
    /// number counted in <paramref name="found"/>[0].
    /// </summary>
    public static void Maxima(Index1D index, ArrayView<float> scores, ArrayView<int> found, ArrayView<int> positions, ArrayView<float> values,
        int columns, int rows, float threshold)
    {
        var v = scores[index];
        if (v < threshold || !XMath.IsFinite(v)) return;
        var r = index / columns;
        var c = index - r * columns;
        for (var dr = -1; dr <= 1; dr++)
        {
            for (var dc = -1; dc <= 1; dc++)
            {
                if (dr == 0 && dc == 0) continue;
                int rr = r + dr, cc = c + dc;
                if (rr < 0 || cc < 0 || rr >= rows || cc >= columns) continue;
                var n = scores[rr * columns + cc];
                if (n > v || (n == v && (dr < 0 || (dr == 0 && dc < 0)))) return;
            }
        }
        var slot = Atomic.Add(ref found[0], 1);
        if (slot < positions.Length)
        {
            positions[slot] = index;
            values[slot] = v;
        }
    }
}
