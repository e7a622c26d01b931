using System.Runtime.CompilerServices;
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
        switch (((quarterTurns % 4) + 4) % 4)
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
}
