using DeepEM.Formats.Star;

namespace DeepEM.Formats.Coordinates;

/// <summary>
/// crYOLO .cbox files (read only). Since crYOLO 1.8 a cbox is a STAR file (block <c>cryolo</c>) whose
/// _CoordinateX/_CoordinateY are the box corner and _Width/_Height the box size, so the centre is corner plus
/// half the box; _Confidence is the score. Older cbox files are whitespace columns
/// <c>x y w h confidence …</c> with the same corner convention, and are read too.
/// </summary>
public static class CryoloCbox
{
    public static List<Pick> Read(string path)
    {
        var text = string.Join('\n', CoordinateText.ReadLines(path));
        if (!text.Contains("_CoordinateX", StringComparison.Ordinal))
        {
            return EmanBox.Read(path);
        }
        var star = StarFile.Parse(text, path);
        var table = star.FindLoop("CoordinateX", "CoordinateY")
            ?? throw new BadInputException(path, "no loop with _CoordinateX and _CoordinateY");
        int ix = table.IndexOf("CoordinateX"), iy = table.IndexOf("CoordinateY");
        int iw = table.IndexOf("Width"), ih = table.IndexOf("Height"), ic = table.IndexOf("Confidence");
        var picks = new List<Pick>();
        for (var r = 0; r < table.Rows.Count; r++)
        {
            var row = table.Rows[r];
            var w = iw >= 0 ? CoordinateText.Parse(row[iw], path, r + 1, "width") : 0;
            var h = ih >= 0 ? CoordinateText.Parse(row[ih], path, r + 1, "height") : 0;
            var x = CoordinateText.Parse(row[ix], path, r + 1, "x") + w / 2;
            var y = CoordinateText.Parse(row[iy], path, r + 1, "y") + h / 2;
            double? score = ic >= 0 ? CoordinateText.Parse(row[ic], path, r + 1, "confidence") : null;
            picks.Add(new Pick(x, y, score));
        }
        return picks;
    }
}
