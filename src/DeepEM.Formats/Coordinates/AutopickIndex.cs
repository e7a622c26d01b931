using DeepEM.Formats.Star;

namespace DeepEM.Formats.Coordinates;

/// <summary>One row of RELION 4's autopick.star: a micrograph and the file holding its coordinates.</summary>
public sealed record AutopickEntry(string MicrographName, string CoordinatesFile);

/// <summary>
/// RELION 4's <c>autopick.star</c> index (block <c>data_coordinate_files</c>, columns _rlnMicrographName and
/// _rlnMicrographCoordinates), which lets RELION's Extract job find every per-micrograph coordinate file.
/// </summary>
public static class AutopickIndex
{
    public const string BlockName = "coordinate_files";
    public const string MicrographColumn = "rlnMicrographName";
    public const string CoordinatesColumn = "rlnMicrographCoordinates";

    /// <summary>A STAR file that is a coordinate index (a loop with both columns) rather than coordinates.</summary>
    public static bool IsIndex(string path)
    {
        if (!path.EndsWith(".star", StringComparison.OrdinalIgnoreCase)) return false;
        try
        {
            return StarFile.Read(path).FindLoop(MicrographColumn, CoordinatesColumn) is not null;
        }
        catch (BadInputException)
        {
            return false;
        }
    }

    public static List<AutopickEntry> Read(string path)
    {
        var star = StarFile.Read(path);
        var table = star.FindLoop(MicrographColumn, CoordinatesColumn)
            ?? throw new BadInputException(path, $"no loop with _{MicrographColumn} and _{CoordinatesColumn}");
        int im = table.IndexOf(MicrographColumn), ic = table.IndexOf(CoordinatesColumn);
        return table.Rows.Select(r => new AutopickEntry(r[im], r[ic])).ToList();
    }

    public static string ToText(IEnumerable<AutopickEntry> entries) => Star(entries).ToText();

    /// <summary>Writes the index whole or not at all, streamed (a campaign's index may hold 100,000 rows).</summary>
    public static void Write(string path, IEnumerable<AutopickEntry> entries)
    {
        var star = Star(entries);
        IO.AtomicFile.Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false), 1 << 16, leaveOpen: true);
            star.Write(writer);
        });
    }

    private static StarFile Star(IEnumerable<AutopickEntry> entries)
    {
        var table = new StarTable([MicrographColumn, CoordinatesColumn]);
        foreach (var e in entries)
        {
            table.Rows.Add([e.MicrographName, e.CoordinatesFile]);
        }
        var block = new StarBlock(BlockName);
        block.Loops.Add(table);
        var file = new StarFile();
        file.Blocks.Add(block);
        return file;
    }
}
