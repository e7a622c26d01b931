namespace DeepEM.Classification.Internal;

/// <summary>Bilinear sampling of a square row-major image (pixel (x, y) at [y·n + x]); outside the image counts as 0.</summary>
internal static class Resampling
{
    public static float Bilinear(ReadOnlySpan<float> image, int n, double x, double y)
    {
        var x0 = (int)Math.Floor(x);
        var y0 = (int)Math.Floor(y);
        var fx = (float)(x - x0);
        var fy = (float)(y - y0);
        if (x0 >= 0 && y0 >= 0 && x0 + 1 < n && y0 + 1 < n)
        {
            var i = y0 * n + x0;
            var top = image[i] + fx * (image[i + 1] - image[i]);
            var bottom = image[i + n] + fx * (image[i + n + 1] - image[i + n]);
            return top + fy * (bottom - top);
        }
        return (1 - fx) * (1 - fy) * At(image, n, x0, y0) + fx * (1 - fy) * At(image, n, x0 + 1, y0)
            + (1 - fx) * fy * At(image, n, x0, y0 + 1) + fx * fy * At(image, n, x0 + 1, y0 + 1);
    }

    private static float At(ReadOnlySpan<float> image, int n, int x, int y) =>
        (uint)x < (uint)n && (uint)y < (uint)n ? image[y * n + x] : 0f;

    /// <summary>
    /// dst(y) = src(Rot(psi)·(y − c) + c + (dx, dy)): the image turned back by <paramref name="psi"/> (radians, from +x
    /// towards +y) about the centre c and moved by −(dx, dy). A particle that is a class average turned by psi and
    /// moved by (dx, dy) comes out aligned with the average.
    /// </summary>
    public static void RotateShift(ReadOnlySpan<float> src, int n, double psi, double dx, double dy, Span<float> dst)
    {
        var c = n / 2;
        var (sin, cos) = Math.SinCos(psi);
        for (var y = 0; y < n; y++)
        {
            var vy = y - c;
            for (var x = 0; x < n; x++)
            {
                var vx = x - c;
                dst[y * n + x] = Bilinear(src, n, cos * vx - sin * vy + c + dx, sin * vx + cos * vy + c + dy);
            }
        }
    }
}
