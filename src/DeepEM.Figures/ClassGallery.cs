using DeepEM.Classification;
using DeepEM.Formats.IO;
using SkiaSharp;

namespace DeepEM.Figures;

/// <summary>
/// The gallery: every class average as a grey tile (largest class first, as RELION's selection shows them), under
/// it the class number, its particle count and share, and its contrast. Each tile is scaled to its own range
/// (1st to 99th percentile inside the mask), so faint classes are visible and junk shows as junk.
/// </summary>
public static class ClassGallery
{
    public static void Write(string path, ClassificationResult result, string title)
    {
        var classes = result.Classes.OrderByDescending(c => c.Count).ThenBy(c => c.Number).ToList();
        var size = result.Geometry.Size;
        // Tiles at least 150 px wide, so that their two label lines fit under them.
        var scale = Math.Max(1, (150 + size - 1) / size);
        var tile = size * scale;
        var columns = Math.Min(classes.Count, Math.Max(4, (int)Math.Ceiling(Math.Sqrt(classes.Count * 1.6))));
        var rows = (classes.Count + columns - 1) / columns;
        const int gap = 8, label = 36, header = 34;
        var width = Math.Max(columns * (tile + gap) + gap, 420);
        var height = header + rows * (tile + label + gap) + gap;
        var total = Math.Max(1, result.Particles);
        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var titleFont = new SKFont(SKTypeface.Default, 16);
        using var font = new SKFont(SKTypeface.Default, 12);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var faint = new SKPaint { Color = new SKColor(90, 90, 90), IsAntialias = true };
        canvas.DrawText(title, gap, 22, titleFont, ink);
        for (var i = 0; i < classes.Count; i++)
        {
            var c = classes[i];
            var x = gap + i % columns * (tile + gap);
            var y = header + i / columns * (tile + label + gap);
            using var bitmap = Tile(c.Image, size, result.Geometry.MaskRadius);
            canvas.DrawBitmap(bitmap, new SKRect(x, y, x + tile, y + tile));
            canvas.DrawText($"class {c.Number}: {c.Count} ({100.0 * c.Count / total:0.#}%)", x, y + tile + 14, font, ink);
            canvas.DrawText($"contrast {c.Contrast:0.00}, score {c.MeanScore:0.00}", x, y + tile + 29, font, faint);
        }
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.WriteAllBytes(path, data.ToArray());
    }

    private static SKBitmap Tile(float[] image, int size, double maskRadius)
    {
        var c = size / 2;
        var inside = new List<float>();
        for (var y = 0; y < size; y++)
        {
            for (var x = 0; x < size; x++)
            {
                if ((x - c) * (x - c) + (y - c) * (y - c) <= maskRadius * maskRadius) inside.Add(image[y * size + x]);
            }
        }
        inside.Sort();
        var lo = inside.Count > 0 ? inside[(int)(0.01 * (inside.Count - 1))] : 0f;
        var hi = inside.Count > 0 ? inside[(int)(0.99 * (inside.Count - 1))] : 1f;
        var bitmap = new SKBitmap(new SKImageInfo(size, size, SKColorType.Gray8, SKAlphaType.Opaque));
        var pixels = new byte[size * size];
        for (var i = 0; i < pixels.Length; i++)
        {
            var v = hi > lo ? (image[i] - lo) / (hi - lo) : 0.5f;
            pixels[i] = (byte)Math.Clamp((int)(v * 255), 0, 255);
        }
        System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
        return bitmap;
    }
}
