namespace DeepEM.Numerics.Layers;

/// <summary>
/// Average subsampling over non-overlapping p×p blocks (the S-layers of DeepEM). Rows and columns that do
/// not fill a whole block are dropped, as the paper's 55 → 27 step does.
/// </summary>
public static class AveragePooling
{
    public static void Forward(ReadOnlySpan<float> input, int channels, int inPlane, int inStride,
        int pool, int outHeight, int outWidth, Span<float> output, int outPlane, int outStride)
    {
        var scale = 1f / (pool * pool);
        for (var c = 0; c < channels; c++)
        {
            for (var y = 0; y < outHeight; y++)
            {
                var dst = output.Slice(c * outPlane + y * outStride, outWidth);
                dst.Clear();
                for (var dy = 0; dy < pool; dy++)
                {
                    var src = input.Slice(c * inPlane + (y * pool + dy) * inStride);
                    for (var x = 0; x < outWidth; x++)
                    {
                        var s = 0f;
                        for (var dx = 0; dx < pool; dx++) s += src[x * pool + dx];
                        dst[x] += s;
                    }
                }
                for (var x = 0; x < outWidth; x++) dst[x] *= scale;
            }
        }
    }

    /// <summary>
    /// dIn[y][x] = dOut[y/p][x/p] / p² inside the pooled region, 0 in the dropped remainder. Writes columns
    /// [0, inWidth) of rows [0, inHeight) only.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> dOut, int channels, int outPlane, int outStride, int outHeight, int outWidth,
        int pool, int inHeight, int inWidth, Span<float> dIn, int inPlane, int inStride)
    {
        var scale = 1f / (pool * pool);
        for (var c = 0; c < channels; c++)
        {
            for (var y = 0; y < inHeight; y++)
            {
                var dst = dIn.Slice(c * inPlane + y * inStride, inWidth);
                var oy = y / pool;
                if (oy >= outHeight)
                {
                    dst.Clear();
                    continue;
                }
                var src = dOut.Slice(c * outPlane + oy * outStride, outWidth);
                for (var x = 0; x < inWidth; x++)
                {
                    var ox = x / pool;
                    dst[x] = ox < outWidth ? src[ox] * scale : 0f;
                }
            }
        }
    }
}
