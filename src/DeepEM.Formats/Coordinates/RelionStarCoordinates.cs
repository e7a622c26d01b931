using DeepEM.Formats.Star;

namespace DeepEM.Formats.Coordinates;

/// <summary>
/// RELION coordinate .star files. A per-micrograph file (what RELION's autopicker and ours write) holds
/// _rlnCoordinateX, _rlnCoordinateY and optionally _rlnAutopickFigureOfMerit; a particle file may also carry
/// _rlnMicrographName, in which case its rows are grouped by micrograph.
/// </summary>
public static class RelionStarCoordinates
{
    public const string X = "rlnCoordinateX";
    public const string Y = "rlnCoordinateY";
    public const string Merit = "rlnAutopickFigureOfMerit";
    public const string MicrographName = "rlnMicrographName";

    /// <summary>Reads picks grouped by micrograph name (the file's own name where no micrograph column exists).</summary>
    public static Dictionary<string, List<Pick>> Read(string path)
    {
        var star = StarFile.Read(path);
        var table = star.FindLoop(X, Y);
        var result = new Dictionary<string, List<Pick>>(StringComparer.Ordinal);
        var fileName = Path.GetFileNameWithoutExtension(path);
        if (table is null)
        {
            // RELION writes a micrograph without picks as a file with the labels and no rows, or with no loop at all.
            if (star.Blocks.SelectMany(b => b.Loops).Any())
            {
                throw new BadInputException(path, $"no loop with _{X} and _{Y}");
            }
            result[fileName] = [];
            return result;
        }
        int ix = table.IndexOf(X), iy = table.IndexOf(Y), iscore = table.IndexOf(Merit), iname = table.IndexOf(MicrographName);
        if (iname < 0)
        {
            result[fileName] = [];
        }
        for (var r = 0; r < table.Rows.Count; r++)
        {
            var row = table.Rows[r];
            var name = iname >= 0 ? Path.GetFileNameWithoutExtension(row[iname]) : fileName;
            var x = CoordinateText.Parse(row[ix], path, r + 1, "row's x");
            var y = CoordinateText.Parse(row[iy], path, r + 1, "row's y");
            double? score = iscore >= 0 ? CoordinateText.Parse(row[iscore], path, r + 1, "row's score") : null;
            if (!result.TryGetValue(name, out var list))
            {
                result[name] = list = [];
            }
            list.Add(new Pick(x, y, score));
        }
        return result;
    }

    /// <summary>Reads the picks of a per-micrograph file.</summary>
    public static List<Pick> ReadOne(string path)
    {
        var all = Read(path);
        return all.Count switch
        {
            0 => [],
            1 => all.Values.First(),
            _ => throw new BadInputException(path, $"holds picks of {all.Count} micrographs; expected one"),
        };
    }

    public static string ToText(IEnumerable<Pick> picks)
    {
        var list = picks.ToList();
        var withScore = list.Count == 0 || list.Any(p => p.Score.HasValue);
        var table = new StarTable(withScore ? [X, Y, Merit] : [X, Y]);
        foreach (var p in list)
        {
            table.Rows.Add(withScore
                ? [CoordinateText.Coordinate(p.X), CoordinateText.Coordinate(p.Y), CoordinateText.Score(p.Score ?? 0)]
                : [CoordinateText.Coordinate(p.X), CoordinateText.Coordinate(p.Y)]);
        }
        var block = new StarBlock("");
        block.Loops.Add(table);
        var file = new StarFile();
        file.Blocks.Add(block);
        return file.ToText();
    }

    public static void Write(string path, IEnumerable<Pick> picks) => IO.AtomicFile.WriteAllText(path, ToText(picks));
}
