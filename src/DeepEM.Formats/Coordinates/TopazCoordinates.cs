using System.Text;

namespace DeepEM.Formats.Coordinates;

/// <summary>
/// Topaz particle files: tab-separated with the header <c>image_name x_coord y_coord score</c>, particle
/// centres in pixels, several micrographs in one file.
/// </summary>
public static class TopazCoordinates
{
    public static Dictionary<string, List<Pick>> Read(string path)
    {
        var lines = CoordinateText.ReadLines(path);
        var result = new Dictionary<string, List<Pick>>(StringComparer.Ordinal);
        var first = Array.FindIndex(lines, l => l.Trim().Length > 0);
        if (first < 0) return result;
        var header = lines[first].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        int iname = Array.IndexOf(header, "image_name"), ix = Array.IndexOf(header, "x_coord"), iy = Array.IndexOf(header, "y_coord"), iscore = Array.IndexOf(header, "score");
        if (iname < 0 || ix < 0 || iy < 0)
        {
            throw new BadInputException(path, $"line {first + 1}: header must name image_name, x_coord and y_coord (found '{lines[first].Trim()}')");
        }
        for (var i = first + 1; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0) continue;
            var f = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < header.Length)
            {
                throw new BadInputException(path, $"line {i + 1}: {f.Length} fields, the header has {header.Length}");
            }
            var name = f[iname];
            var pick = new Pick(
                CoordinateText.Parse(f[ix], path, i + 1, "x_coord"),
                CoordinateText.Parse(f[iy], path, i + 1, "y_coord"),
                iscore >= 0 ? CoordinateText.Parse(f[iscore], path, i + 1, "score") : null);
            if (!result.TryGetValue(name, out var list))
            {
                result[name] = list = [];
            }
            list.Add(pick);
        }
        return result;
    }

    public static string ToText(IEnumerable<KeyValuePair<string, List<Pick>>> byMicrograph)
    {
        var sb = new StringBuilder("image_name\tx_coord\ty_coord\tscore\n");
        foreach (var (name, picks) in byMicrograph)
        {
            foreach (var p in picks)
            {
                sb.Append(name).Append('\t').Append(CoordinateText.Coordinate(p.X)).Append('\t')
                  .Append(CoordinateText.Coordinate(p.Y)).Append('\t').Append(CoordinateText.Score(p.Score ?? 0)).Append('\n');
            }
        }
        return sb.ToString();
    }

    public static void Write(string path, IEnumerable<KeyValuePair<string, List<Pick>>> byMicrograph) =>
        IO.AtomicFile.WriteAllText(path, ToText(byMicrograph));
}
