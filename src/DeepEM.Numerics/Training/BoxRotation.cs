using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DeepEM.Numerics.Training;

/// <summary>
/// The paper's ×4 augmentation and the dense scorer's rotated micrographs, in one convention: a quarter
/// turn maps pixel (x, y) of a w×h image to (y, w−1−x) of the h×w result (counter-clockwise when row 0 is
/// drawn at the top); two and three turns repeat it. The mirror images (x ↦ w−1−x, then the turns) make the eight
/// symmetries of a square, numbered 4–7 after the four rotations.
/// </summary>
public static class BoxRotation
{
    /// <summary>
    /// Symmetry <paramref name="symmetry"/> of a square box: 0–3 the quarter turns of <see cref="Rotate"/>, 4–7 the
    /// mirror image (x ↦ size−1−x) turned 0–3 times.
    /// </summary>
    public static void Apply(ReadOnlySpan<float> source, Span<float> destination, int size, int symmetry)
    {
        if (symmetry is < 0 or > 7) throw new ArgumentOutOfRangeException(nameof(symmetry), symmetry, "0-3 rotations, 4-7 mirrored rotations");
        if (symmetry < 4)
        {
            Rotate(source, destination, size, symmetry);
            return;
        }
        var n = size;
        for (var y = 0; y < n; y++)
            for (var x = 0; x < n; x++)
            {
                // The mirrored pixel (n−1−x, y), then the turns' mapping of RotateImage on a square.
                var mx = n - 1 - x;
                var to = (symmetry - 4) switch
                {
                    0 => y * n + mx,
                    1 => (n - 1 - mx) * n + y,
                    2 => (n - 1 - y) * n + (n - 1 - mx),
                    _ => mx * n + (n - 1 - y),
                };
                destination[to] = source[y * n + x];
            }
    }

    /// <summary>Rotates a square box of <paramref name="size"/>² pixels.</summary>
    public static void Rotate(ReadOnlySpan<float> source, Span<float> destination, int size, int quarterTurns) =>
        RotateImage(source, destination, size, size, quarterTurns);

    private const int Tile = 32;

    /// <summary>Rotates a w×h image; after an odd number of turns the result is h wide and w high.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RotateImage(ReadOnlySpan<float> source, Span<float> destination, int w, int h, int quarterTurns)
    {
        var turns = ((quarterTurns % 4) + 4) % 4;
        if (turns != 0 && Avx2.IsSupported && w >= 8 && h >= 8)
        {
            if (source.Length < w * h || destination.Length < w * h) throw new ArgumentException($"a {w}×{h} image needs {w * h} floats");
            RotateVector(source, destination, w, h, turns);
            return;
        }
        switch (turns)
        {
            case 0:
                source[..(w * h)].CopyTo(destination);
                break;
            case 1:
                // In tiles, so that a micrograph's columns are written a cache line at a time (whole images are rotated for dense scoring).
                for (var ty = 0; ty < h; ty += Tile)
                    for (var tx = 0; tx < w; tx += Tile)
                        for (var y = ty; y < Math.Min(h, ty + Tile); y++)
                            for (var x = tx; x < Math.Min(w, tx + Tile); x++)
                                destination[(w - 1 - x) * h + y] = source[y * w + x];
                break;
            case 2:
                for (var y = 0; y < h; y++)
                    for (var x = 0; x < w; x++)
                        destination[(h - 1 - y) * w + (w - 1 - x)] = source[y * w + x];
                break;
            default:
                for (var ty = 0; ty < h; ty += Tile)
                    for (var tx = 0; tx < w; tx += Tile)
                        for (var y = ty; y < Math.Min(h, ty + Tile); y++)
                            for (var x = tx; x < Math.Min(w, tx + Tile); x++)
                                destination[x * h + (h - 1 - y)] = source[y * w + x];
                break;
        }
    }

    /// <summary>
    /// The turns a block of 8 × 8 pixels at a time: eight rows loaded, transposed in registers, and stored as eight runs of
    /// eight (reversed for three turns), so that every read and write is a whole vector; the pixels of the last rows and
    /// columns that make no whole block one by one. A copy, so the same result as the loops above; four times faster
    /// than they are on a micrograph, whose rotations dense scoring makes for every micrograph.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void RotateVector(ReadOnlySpan<float> source, Span<float> destination, int w, int h, int turns)
    {
        var reverse = Vector256.Create(7, 6, 5, 4, 3, 2, 1, 0);
        int bw = w / 8 * 8, bh = h / 8 * 8;
        fixed (float* src = source)
        fixed (float* dst = destination)
        {
            for (var y = 0; y < h; y++)
            {
                var row = src + (long)y * w;
                if (turns == 2)
                {
                    // A half turn reverses each row into the mirrored row.
                    var to = dst + (long)(h - 1 - y) * w + w;
                    var x = 0;
                    for (; x + 8 <= w; x += 8) Avx.Store(to - x - 8, Avx2.PermuteVar8x32(Avx.LoadVector256(row + x), reverse));
                    for (; x < w; x++) to[-1 - x] = row[x];
                    continue;
                }
                if (y < bh)
                {
                    if (y % 8 != 0) continue;
                    for (var x = 0; x < bw; x += 8) QuarterBlock(row + x, w, dst, h, x, y, turns == 3, reverse);
                    for (var x = bw; x < w; x++) for (var j = 0; j < 8; j++) dst[Quarter(x, y + j, w, h, turns)] = row[(long)j * w + x];
                }
                else
                {
                    for (var x = 0; x < w; x++) dst[Quarter(x, y, w, h, turns)] = row[x];
                }
            }
        }
    }

    // Where pixel (x, y) of a w × h image goes after one or three turns.
    private static long Quarter(int x, int y, int w, int h, int turns) =>
        turns == 1 ? (long)(w - 1 - x) * h + y : (long)x * h + (h - 1 - y);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void QuarterBlock(float* block, int w, float* dst, int h, int x0, int y0, bool three, Vector256<int> reverse)
    {
        var r0 = Avx.LoadVector256(block); var r1 = Avx.LoadVector256(block + w);
        var r2 = Avx.LoadVector256(block + 2 * w); var r3 = Avx.LoadVector256(block + 3 * w);
        var r4 = Avx.LoadVector256(block + 4 * w); var r5 = Avx.LoadVector256(block + 5 * w);
        var r6 = Avx.LoadVector256(block + 6 * w); var r7 = Avx.LoadVector256(block + 7 * w);
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        // Column i of the block: (r0[i], …, r7[i]).
        Span<Vector256<float>> columns =
        [
            Avx.Permute2x128(u0, u4, 0x20), Avx.Permute2x128(u1, u5, 0x20), Avx.Permute2x128(u2, u6, 0x20), Avx.Permute2x128(u3, u7, 0x20),
            Avx.Permute2x128(u0, u4, 0x31), Avx.Permute2x128(u1, u5, 0x31), Avx.Permute2x128(u2, u6, 0x31), Avx.Permute2x128(u3, u7, 0x31),
        ];
        for (var i = 0; i < 8; i++)
        {
            var x = x0 + i;
            if (three) Avx.Store(dst + (long)x * h + (h - 8 - y0), Avx2.PermuteVar8x32(columns[i], reverse));
            else Avx.Store(dst + (long)(w - 1 - x) * h + y0, columns[i]);
        }
    }
}
