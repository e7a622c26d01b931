using DeepEM.Formats.Coordinates;
using DeepEM.Formats.IO;
using DeepEM.Imaging;
using DeepEM.Pipeline.Evaluation;
using ScottPlot;
using SkiaSharp;

namespace DeepEM.Figures;

/// <summary>
/// Pictures of an evaluation: the precision-recall curve beside the F-scores against the threshold (one
/// PNG), a micrograph with its true positives, false positives and missed particles marked (like figure 2c of
/// the paper), and a montage of picked boxes. All written whole (temporary file, then rename).
/// </summary>
public static class EvaluationFigures
{
    public static void WriteCurves(EvaluationReport report, string path, string title)
    {
        var curve = report.Curve;
        var pr = new Plot();
        var recall = curve.Select(s => s.Recall).ToArray();
        var precision = curve.Select(s => s.Precision).ToArray();
        var line = pr.Add.Scatter(recall, precision);
        line.LegendText = $"AUC {report.AreaUnderPrCurve:0.000}";
        line.MarkerSize = 0;
        var best = pr.Add.Marker(report.BestF2.Recall, report.BestF2.Precision);
        best.LegendText = $"F2-best, threshold {report.BestF2.Threshold:0.###}";
        best.MarkerSize = 10;
        pr.Axes.SetLimits(0, 1.02, 0, 1.02);
        pr.XLabel("recall");
        pr.YLabel("precision");
        pr.Title($"{title}: precision-recall");
        pr.ShowLegend(Alignment.LowerLeft);

        var fs = new Plot();
        var thresholds = curve.Select(s => s.Threshold).ToArray();
        foreach (var (name, values) in new[]
                 {
                     ("precision", precision), ("recall", recall),
                     ("F1", curve.Select(s => s.F1).ToArray()), ("F2", curve.Select(s => s.F2).ToArray()),
                 })
        {
            var s = fs.Add.Scatter(thresholds, values);
            s.LegendText = name;
            s.MarkerSize = 0;
        }
        var v = fs.Add.VerticalLine(report.BestF2.Threshold);
        v.LegendText = $"F2-best {report.BestF2.Threshold:0.###}";
        v.LinePattern = LinePattern.Dashed;
        fs.Axes.SetLimits(0, 1, 0, 1.02);
        fs.XLabel("score threshold");
        fs.YLabel("score");
        fs.Title($"{title}: scores against threshold");
        fs.ShowLegend(Alignment.LowerLeft);

        const int w = 800, h = 600;
        using var left = SKBitmap.Decode(pr.GetImageBytes(w, h, ImageFormat.Png));
        using var right = SKBitmap.Decode(fs.GetImageBytes(w, h, ImageFormat.Png));
        using var surface = SKSurface.Create(new SKImageInfo(2 * w, h));
        surface.Canvas.Clear(SKColors.White);
        surface.Canvas.DrawBitmap(left, 0, 0);
        surface.Canvas.DrawBitmap(right, w, 0);
        SavePng(surface, path);
    }

    /// <summary>
    /// The micrograph (contrast from its 0.5th to 99.5th percentile, shrunk to at most 2048 px) with true
    /// positives as green circles, false positives red, missed particles blue.
    /// </summary>
    public static (int tp, int fp, int fn) WriteOverlay(Image2D micrograph, IReadOnlyList<Pick> picks, IReadOnlyList<Pick> truth,
        double radius, double threshold, double particleRadius, string path, string title)
    {
        var kept = picks.Where(p => (p.Score ?? 1) >= threshold).OrderByDescending(p => p.Score ?? 1).ToList();
        var matching = new PickMatching(truth, radius);
        foreach (var p in kept) matching.Add(p);
        var scale = Math.Min(1.0, 2048.0 / Math.Max(micrograph.Width, micrograph.Height));
        using var bitmap = Greyscale(micrograph, scale);
        using var surface = SKSurface.Create(new SKImageInfo(bitmap.Width, bitmap.Height + 40));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        canvas.DrawBitmap(bitmap, 0, 0);
        var r = (float)(particleRadius * scale);
        using var green = Stroke(SKColors.LimeGreen, 2.5f);
        using var red = Stroke(SKColors.Red, 2.5f);
        using var blue = Stroke(SKColors.DeepSkyBlue, 2.5f);
        int tp = 0, fp = 0, fn = 0;
        for (var i = 0; i < kept.Count; i++)
        {
            var matched = matching.PickToTruth[i] >= 0;
            if (matched) tp++; else fp++;
            canvas.DrawCircle((float)(kept[i].X * scale), (float)(kept[i].Y * scale), r, matched ? green : red);
        }
        for (var t = 0; t < truth.Count; t++)
        {
            if (matching.TruthToPick[t] >= 0) continue;
            fn++;
            var x = (float)(truth[t].X * scale);
            var y = (float)(truth[t].Y * scale);
            canvas.DrawRect(x - r, y - r, 2 * r, 2 * r, blue);
        }
        using var font = new SKFont(SKTypeface.Default, 22);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        canvas.DrawText($"{title}: {tp} true positives (green), {fp} false positives (red), {fn} missed (blue squares); threshold {threshold:0.###}",
            10, bitmap.Height + 28, font, ink);
        SavePng(surface, path);
        return (tp, fp, fn);
    }

    /// <summary>The strongest picks' boxes, each with its score, in a grid.</summary>
    public static void WriteMontage(Image2D micrograph, IReadOnlyList<Pick> picks, int boxSize, string path, int count = 24, int columns = 8)
    {
        var chosen = picks.OrderByDescending(p => p.Score ?? 1).Take(count).ToList();
        const int tile = 96;
        var rows = Math.Max(1, (chosen.Count + columns - 1) / columns);
        using var surface = SKSurface.Create(new SKImageInfo(columns * (tile + 4), rows * (tile + 22)));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var font = new SKFont(SKTypeface.Default, 14);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        for (var i = 0; i < chosen.Count; i++)
        {
            var p = chosen[i];
            var x0 = (int)Math.Round(p.X) - boxSize / 2;
            var y0 = (int)Math.Round(p.Y) - boxSize / 2;
            var box = new Image2D(boxSize, boxSize);
            for (var y = 0; y < boxSize; y++)
                for (var x = 0; x < boxSize; x++)
                {
                    int sx = Math.Clamp(x0 + x, 0, micrograph.Width - 1), sy = Math.Clamp(y0 + y, 0, micrograph.Height - 1);
                    box[x, y] = micrograph[sx, sy];
                }
            using var bmp = Greyscale(box, 1.0);
            var col = i % columns;
            var row = i / columns;
            canvas.DrawBitmap(bmp, new SKRect(col * (tile + 4), row * (tile + 22), col * (tile + 4) + tile, row * (tile + 22) + tile));
            canvas.DrawText($"{p.Score ?? 1:0.###}", col * (tile + 4) + 2, row * (tile + 22) + tile + 16, font, ink);
        }
        SavePng(surface, path);
    }

    private static SKPaint Stroke(SKColor color, float width) =>
        new() { Color = color, Style = SKPaintStyle.Stroke, StrokeWidth = width, IsAntialias = true };

    private static SKBitmap Greyscale(Image2D image, double scale)
    {
        var sorted = image.Data.Where(float.IsFinite).Order().ToArray();
        var lo = sorted[(int)(0.005 * (sorted.Length - 1))];
        var hi = sorted[(int)(0.995 * (sorted.Length - 1))];
        var w = Math.Max(1, (int)(image.Width * scale));
        var h = Math.Max(1, (int)(image.Height * scale));
        var bitmap = new SKBitmap(new SKImageInfo(w, h, SKColorType.Gray8, SKAlphaType.Opaque));
        var step = 1 / scale;
        var pixels = new byte[w * h];
        for (var y = 0; y < h; y++)
        {
            for (var x = 0; x < w; x++)
            {
                // Box-average the source pixels that fall in this output pixel.
                int sx0 = (int)(x * step), sy0 = (int)(y * step);
                int sx1 = Math.Max(sx0 + 1, (int)((x + 1) * step)), sy1 = Math.Max(sy0 + 1, (int)((y + 1) * step));
                double sum = 0;
                var n = 0;
                for (var sy = sy0; sy < Math.Min(sy1, image.Height); sy++)
                    for (var sx = sx0; sx < Math.Min(sx1, image.Width); sx++)
                    {
                        sum += image[sx, sy];
                        n++;
                    }
                var v = hi > lo ? (sum / Math.Max(n, 1) - lo) / (hi - lo) : 0.5;
                pixels[y * w + x] = (byte)Math.Clamp((int)(v * 255), 0, 255);
            }
        }
        System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
        return bitmap;
    }

    private static void SavePng(SKSurface surface, string path)
    {
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.WriteAllBytes(path, data.ToArray());
    }
}
