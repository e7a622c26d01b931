using System.Text;

namespace DeepEM.Formats.Coordinates;

/// <summary>
/// Comma-separated coordinates with a header line. The x and y columns are found by name: <c>x</c>/<c>y</c>,
/// or CryoPPP's <c>X-Coordinate</c>/<c>Y-Coordinate</c>; a <c>score</c> (or <c>confidence</c>) column is
/// read where present. Other columns (such as CryoPPP's Diameter) are ignored.
/// </summary>
public static class CsvCoordinates
{
    public static List<Pick> Read(string path)
    {
        var lines = CoordinateText.ReadLines(path);
        var first = Array.FindIndex(lines, l => l.Trim().Length > 0);
        if (first < 0)
        {
            return [];
        }
        var header = lines[first].Split(',').Select(h => h.Trim().Trim('"').ToLowerInvariant()).ToArray();
        var ix = Array.FindIndex(header, h => h is "x" or "x-coordinate" or "x_coord" or "xcoord");
        var iy = Array.FindIndex(header, h => h is "y" or "y-coordinate" or "y_coord" or "ycoord");
        var iscore = Array.FindIndex(header, h => h is "score" or "confidence");
        if (ix < 0 || iy < 0)
        {
            throw new BadInputException(path, $"line {first + 1}: header '{lines[first].Trim()}' has no x and y columns");
        }
        var picks = new List<Pick>();
        for (var i = first + 1; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0) continue;
            var f = line.Split(',');
            if (f.Length < header.Length)
            {
                throw new BadInputException(path, $"line {i + 1}: {f.Length} fields, the header has {header.Length}");
            }
            var x = CoordinateText.Parse(f[ix].Trim(), path, i + 1, "x");
            var y = CoordinateText.Parse(f[iy].Trim(), path, i + 1, "y");
            double? score = iscore >= 0 ? CoordinateText.Parse(f[iscore].Trim(), path, i + 1, "score") : null;
            picks.Add(new Pick(x, y, score));
        }
        return picks;
    }

    public static string ToText(IEnumerable<Pick> picks)
    {
        var list = picks.ToList();
        var withScore = list.Any(p => p.Score.HasValue);
        var sb = new StringBuilder(withScore ? "x,y,score\n" : "x,y\n");
        foreach (var p in list)
        {
            sb.Append(CoordinateText.Coordinate(p.X)).Append(',').Append(CoordinateText.Coordinate(p.Y));
            if (withScore) sb.Append(',').Append(CoordinateText.Score(p.Score ?? 0));
            sb.Append('\n');
        }
        return sb.ToString();
    }

    public static void Write(string path, IEnumerable<Pick> picks) => IO.AtomicFile.WriteAllText(path, ToText(picks));
}
