namespace DeepEM.Imaging;

/// <summary>
/// A single-channel float32 image, row-major: pixel (x, y) is column x of row y, at <c>Data[y * Width + x]</c>.
/// Row 0 is the first row of the source file, whatever that format calls "up", so that coordinates read
/// from and written to files need no flipping (see docs/cli.md, "Coordinates").
/// </summary>
public sealed class Image2D
{
    public Image2D(int width, int height)
        : this(width, height, new float[checked(width * height)])
    {
    }

    public Image2D(int width, int height, float[] data)
    {
        if (width <= 0 || height <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(width), $"image size {width}x{height} must be positive");
        }
        if (data.Length != (long)width * height)
        {
            throw new ArgumentException($"data holds {data.Length} values, {width}x{height} needs {(long)width * height}", nameof(data));
        }
        Width = width;
        Height = height;
        Data = data;
    }

    public int Width { get; }

    public int Height { get; }

    /// <summary>Row-major pixels; exposed so that hot loops can take spans without copying.</summary>
    public float[] Data { get; }

    public float this[int x, int y]
    {
        get => Data[y * Width + x];
        set => Data[y * Width + x] = value;
    }

    public Span<float> Row(int y) => Data.AsSpan(y * Width, Width);

    public Image2D Clone() => new(Width, Height, (float[])Data.Clone());

    /// <summary>Copies the rectangle [x0, x0+w) × [y0, y0+h); the rectangle must lie inside the image.</summary>
    public Image2D Crop(int x0, int y0, int w, int h)
    {
        if (x0 < 0 || y0 < 0 || x0 + w > Width || y0 + h > Height)
        {
            throw new ArgumentOutOfRangeException(nameof(x0), $"crop {x0},{y0} {w}x{h} leaves the {Width}x{Height} image");
        }
        var result = new Image2D(w, h);
        for (var y = 0; y < h; y++)
        {
            Data.AsSpan((y0 + y) * Width + x0, w).CopyTo(result.Row(y));
        }
        return result;
    }
}
