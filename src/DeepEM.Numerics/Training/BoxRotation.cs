using System.Runtime.CompilerServices;
namespace DeepEM.Numerics.Training;

/// <summary>
/// The paper's ×4 augmentation and the dense scorer's rotated micrographs, in one convention: a quarter
/// turn maps pixel (x, y) of a w×h image to (y, w−1−x) of the h×w result (counter-clockwise when row 0 is
/// drawn at the top); two and three turns repeat it.
/// </summary>
public static class BoxRotation
{
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
