namespace DeepEM.Imaging.Preprocessing;

/// <summary>
/// Integer binning by block mean: output pixel (x, y) is the mean of the factor×factor input block whose
/// top-left pixel is (x·factor, y·factor). A remainder of fewer than <c>factor</c> columns or rows at the
/// right and bottom edges is dropped, so binned pixel centres map back to original pixels exactly:
/// original = (binned + 0.5)·factor − 0.5.
/// Block mean (rather than Fourier cropping) keeps the operation local, so tiles of a huge micrograph
/// bin identically to the whole, and it cannot ring around carbon edges or contaminants.
/// </summary>
public static class Binning
{
    public static Image2D BlockMean(Image2D source, int factor)
    {
        if (factor < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(factor), $"binning factor {factor} must be at least 1");
        }
        if (factor == 1)
        {
            return source.Clone();
        }
        var w = source.Width / factor;
        var h = source.Height / factor;
        if (w == 0 || h == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(factor), $"binning a {source.Width}x{source.Height} image by {factor} leaves nothing");
        }
        var result = new Image2D(w, h);
        var scale = 1.0f / (factor * factor);
        Parallel.For(0, h, y =>
        {
            Span<float> acc = w <= 4096 ? stackalloc float[w] : new float[w];
            acc.Clear();
            for (var dy = 0; dy < factor; dy++)
            {
                var row = source.Row(y * factor + dy);
                for (var x = 0; x < w; x++)
                {
                    var s = 0f;
                    var block = row.Slice(x * factor, factor);
                    foreach (var v in block)
                    {
                        s += v;
                    }
                    acc[x] += s;
                }
            }
            var dst = result.Row(y);
            for (var x = 0; x < w; x++)
            {
                dst[x] = acc[x] * scale;
            }
        });
        return result;
    }

    /// <summary>The original-pixel coordinate of the centre of binned pixel <paramref name="binned"/>.</summary>
    public static double ToOriginal(double binned, int factor) => (binned + 0.5) * factor - 0.5;

    /// <summary>The binned-pixel coordinate of original pixel <paramref name="original"/>.</summary>
    public static double ToBinned(double original, int factor) => (original + 0.5) / factor - 0.5;
}
