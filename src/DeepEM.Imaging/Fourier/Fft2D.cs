namespace DeepEM.Imaging.Fourier;

/// <summary>
/// 2D complex FFT of a row-major power-of-two-sized array (split real/imaginary), unscaled: rows, then columns.
/// Each row and column is transformed independently, so the result does not depend on how the work is
/// spread over threads.
/// </summary>
public static class Fft2D
{
    public static void Forward(float[] re, float[] im, int width, int height) => Transform(re, im, width, height, false);

    public static void Inverse(float[] re, float[] im, int width, int height) => Transform(re, im, width, height, true);

    private static void Transform(float[] re, float[] im, int width, int height, bool inverse)
    {
        var rowPlan = FftPlan.For(width);
        var columnPlan = FftPlan.For(height);
        Parallel.For(0, height, y =>
        {
            var r = re.AsSpan(y * width, width);
            var i = im.AsSpan(y * width, width);
            if (inverse) rowPlan.Inverse(r, i); else rowPlan.Forward(r, i);
        });
        // Columns in blocks of 8: gather 8 columns at once so each row read touches one cache line.
        const int block = 8;
        Parallel.For(0, (width + block - 1) / block, () => (new float[block * height], new float[block * height]), (b, _, buffers) =>
        {
            var (bufRe, bufIm) = buffers;
            var x0 = b * block;
            var count = Math.Min(block, width - x0);
            for (var y = 0; y < height; y++)
            {
                var src = y * width + x0;
                for (var c = 0; c < count; c++)
                {
                    bufRe[c * height + y] = re[src + c];
                    bufIm[c * height + y] = im[src + c];
                }
            }
            for (var c = 0; c < count; c++)
            {
                var r = bufRe.AsSpan(c * height, height);
                var i = bufIm.AsSpan(c * height, height);
                if (inverse) columnPlan.Inverse(r, i); else columnPlan.Forward(r, i);
            }
            for (var y = 0; y < height; y++)
            {
                var dst = y * width + x0;
                for (var c = 0; c < count; c++)
                {
                    re[dst + c] = bufRe[c * height + y];
                    im[dst + c] = bufIm[c * height + y];
                }
            }
            return buffers;
        }, _ => { });
    }
}
