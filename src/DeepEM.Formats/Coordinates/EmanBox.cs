using System.Globalization;
using System.Text;

namespace DeepEM.Formats.Coordinates;

/// <summary>
/// EMAN2 .box files: whitespace-separated <c>x y w h</c> per particle, (x, y) the box corner with the smaller
/// coordinates (EMAN calls it lower-left because it draws row 0 at the bottom), so the centre is (x + w/2, y + h/2).
/// An optional fifth column (a score, as REPIC's files have) is read. Written corners are whole pixels, as
/// EMAN2 and the paper write them; an integer centre with an even box size survives the round trip exactly.
/// </summary>
public static class EmanBox
{
    public static List<Pick> Read(string path)
    {
        var lines = CoordinateText.ReadLines(path);
        var picks = new List<Pick>();
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var f = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 4)
            {
                throw new BadInputException(path, $"line {i + 1}: expected 'x y w h', found {f.Length} field(s)");
            }
            var x = CoordinateText.Parse(f[0], path, i + 1, "x");
            var y = CoordinateText.Parse(f[1], path, i + 1, "y");
            var w = CoordinateText.Parse(f[2], path, i + 1, "width");
            var h = CoordinateText.Parse(f[3], path, i + 1, "height");
            double? score = f.Length >= 5 ? CoordinateText.Parse(f[4], path, i + 1, "score") : null;
            picks.Add(new Pick(x + w / 2, y + h / 2, score));
        }
        return picks;
    }

    public static string ToText(IEnumerable<Pick> picks, int boxSize)
    {
        var sb = new StringBuilder();
        foreach (var p in picks)
        {
            var x = (long)Math.Round(p.X - boxSize / 2.0, MidpointRounding.AwayFromZero);
            var y = (long)Math.Round(p.Y - boxSize / 2.0, MidpointRounding.AwayFromZero);
            sb.Append(x.ToString(CultureInfo.InvariantCulture)).Append('\t')
              .Append(y.ToString(CultureInfo.InvariantCulture)).Append('\t')
              .Append(boxSize.ToString(CultureInfo.InvariantCulture)).Append('\t')
              .Append(boxSize.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        return sb.ToString();
    }

    public static void Write(string path, IEnumerable<Pick> picks, int boxSize) => IO.AtomicFile.WriteAllText(path, ToText(picks, boxSize));
}
