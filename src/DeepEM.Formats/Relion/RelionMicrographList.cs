using System.Globalization;
using DeepEM.Formats.Star;

namespace DeepEM.Formats.Relion;

/// <summary>A micrograph of a RELION micrograph list: its name exactly as the file writes it, and its pixel size when given.</summary>
public sealed record ListedMicrograph(string Name, double? PixelSizeAngstrom);

/// <summary>
/// RELION's list of micrographs (<c>micrographs.star</c> of an Import, MotionCorr or CtfFind job, such as
/// <c>micrographs_ctf.star</c>): block <c>data_micrographs</c> (or, in RELION 3.0 files, the only loop) with
/// <c>_rlnMicrographName</c>, and optionally <c>data_optics</c> whose <c>_rlnMicrographPixelSize</c> (or
/// <c>_rlnImagePixelSize</c>) applies to the micrographs of its <c>_rlnOpticsGroup</c>. Names are kept as written:
/// RELION matches them by exact string, relative to its project folder.
/// </summary>
public static class RelionMicrographList
{
    public const string NameColumn = "rlnMicrographName";

    /// <summary>Throws <see cref="BadInputException"/> naming the file and what is wrong.</summary>
    public static List<ListedMicrograph> Read(string path)
    {
        var star = StarFile.Read(path);
        var table = (star.Block("micrographs") is { } block ? block.LoopWith(NameColumn) : star.FindLoop(NameColumn))
            ?? throw new BadInputException(path, $"no micrographs: no loop with _{NameColumn} (a RELION micrographs.star has one in data_micrographs)");
        if (table.Rows.Count == 0) throw new BadInputException(path, "the micrograph table is empty");
        var name = table.IndexOf(NameColumn);
        var group = table.IndexOf("rlnOpticsGroup");
        var own = PixelColumn(table);
        var groups = OpticsPixelSizes(star, path);
        var list = new List<ListedMicrograph>(table.Rows.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var r = 0; r < table.Rows.Count; r++)
        {
            var row = table.Rows[r];
            var micrograph = row[name];
            if (micrograph.Length == 0) throw new BadInputException(path, $"row {r + 1}: empty _{NameColumn}");
            if (!seen.Add(micrograph)) throw new BadInputException(path, $"row {r + 1}: micrograph {micrograph} is listed twice");
            double? pixel = own >= 0 ? Number(row[own], path, r) : null;
            if (pixel is null && group >= 0 && groups.TryGetValue(row[group], out var g)) pixel = g;
            list.Add(new ListedMicrograph(micrograph, pixel));
        }
        return list;
    }

    private static int PixelColumn(StarTable table) =>
        table.IndexOf("rlnMicrographPixelSize") is >= 0 and var i ? i : table.IndexOf("rlnImagePixelSize");

    private static Dictionary<string, double> OpticsPixelSizes(StarFile star, string path)
    {
        var sizes = new Dictionary<string, double>(StringComparer.Ordinal);
        if (star.Block("optics")?.LoopWith("rlnOpticsGroup") is not { } optics) return sizes;
        var group = optics.IndexOf("rlnOpticsGroup");
        var pixel = PixelColumn(optics);
        if (pixel < 0) return sizes;
        for (var r = 0; r < optics.Rows.Count; r++)
        {
            if (Number(optics.Rows[r][pixel], path, r) is { } v) sizes[optics.Rows[r][group]] = v;
        }
        return sizes;
    }

    private static double? Number(string text, string path, int row)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !(v > 0) || !double.IsFinite(v))
        {
            throw new BadInputException(path, $"row {row + 1}: pixel size '{text}' is not a positive number");
        }
        return v;
    }
}
