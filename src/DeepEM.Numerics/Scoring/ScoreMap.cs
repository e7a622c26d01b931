using System.Runtime.CompilerServices;

namespace DeepEM.Numerics.Scoring;

/// <summary>A local maximum of a score map: the box's top-left position and its score.</summary>
public readonly record struct MapPeak(int X, int Y, float Score);

/// <summary>
/// Network scores for every box position of an image: <c>this[x0, y0]</c> is the score of the box whose
/// top-left pixel is (x0, y0), for x0 in [0, Width) and y0 in [0, Height); Width = image width − box + 1.
/// </summary>
public sealed class ScoreMap(int width, int height, int boxSize, float[] data)
{
    public int Width { get; } = width;

    public int Height { get; } = height;

    public int BoxSize { get; } = boxSize;

    public float[] Data { get; } = data;

    public float this[int x0, int y0] => Data[y0 * Width + x0];
}

/// <summary>The first step of peak finding, the same on every device.</summary>
public static class LocalMaxima
{
    /// <summary>
    /// Positions whose score is at least <paramref name="threshold"/> (and finite) with no larger score among their 8
    /// neighbours, in raster order; on ties the first in raster order wins, so a flat plateau gives one peak.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static List<MapPeak> Find(ReadOnlySpan<float> grid, int columns, int rows, float threshold)
    {
        var found = new List<MapPeak>();
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < columns; c++)
            {
                if (IsMaximum(grid, columns, rows, c, r, threshold)) found.Add(new MapPeak(c, r, grid[r * columns + c]));
            }
        }
        return found;
    }

    /// <summary>Whether (c, r) is a local maximum at or above the threshold (the GPU kernel applies the same test).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsMaximum(ReadOnlySpan<float> grid, int columns, int rows, int c, int r, float threshold)
    {
        var v = grid[r * columns + c];
        if (v < threshold || !float.IsFinite(v)) return false;
        for (var dr = -1; dr <= 1; dr++)
        {
            for (var dc = -1; dc <= 1; dc++)
            {
                if (dr == 0 && dc == 0) continue;
                int rr = r + dr, cc = c + dc;
                if (rr < 0 || cc < 0 || rr >= rows || cc >= columns) continue;
                var n = grid[rr * columns + cc];
                if (n > v || (n == v && (dr < 0 || (dr == 0 && dc < 0)))) return false;
            }
        }
        return true;
    }

    /// <summary>At most this many maxima in a map: no two neighbours can both be one.</summary>
    public static long MaxCount(int columns, int rows) => (long)((columns + 1) / 2) * ((rows + 1) / 2);
}
