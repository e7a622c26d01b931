namespace DeepEM.Formats.Coordinates;

/// <summary>
/// Finds and reads coordinate files of any supported format, keyed by micrograph name (the file name
/// without extension, or the micrograph column of a multi-micrograph file). Folders are read whole; when one
/// micrograph has files in two formats, the order .star, .cbox, .box, .csv, .txt decides which is used.
/// </summary>
public static class CoordinateFiles
{
    private static readonly string[] Preference = [".star", ".cbox", ".box", ".csv", ".txt"];

    public static CoordinateFormat? FormatOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".star" => CoordinateFormat.Star,
        ".box" => CoordinateFormat.Box,
        ".csv" => CoordinateFormat.Csv,
        ".txt" => CoordinateFormat.Topaz,
        ".cbox" => CoordinateFormat.Cbox,
        _ => null,
    };

    public static string Extension(CoordinateFormat format) => format switch
    {
        CoordinateFormat.Star => ".star",
        CoordinateFormat.Box => ".box",
        CoordinateFormat.Csv => ".csv",
        CoordinateFormat.Topaz => ".txt",
        CoordinateFormat.Cbox => ".cbox",
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    /// <summary>Reads one file of any format, keyed by micrograph name.</summary>
    public static Dictionary<string, List<Pick>> Read(string path)
    {
        var name = Path.GetFileNameWithoutExtension(path);
        return FormatOf(path) switch
        {
            CoordinateFormat.Star => RelionStarCoordinates.Read(path),
            CoordinateFormat.Topaz => TopazCoordinates.Read(path),
            CoordinateFormat.Box => new() { [name] = EmanBox.Read(path) },
            CoordinateFormat.Csv => new() { [name] = CsvCoordinates.Read(path) },
            CoordinateFormat.Cbox => new() { [name] = CryoloCbox.Read(path) },
            _ => throw new BadInputException(path, "not a coordinate file (.star, .box, .csv, .txt, .cbox)"),
        };
    }

    /// <summary>
    /// Reads every coordinate file of a folder (or one file). RELION's autopick.star index is skipped: it
    /// lists files, it holds no coordinates.
    /// </summary>
    public static Dictionary<string, List<Pick>> ReadAll(string path)
    {
        if (File.Exists(path))
        {
            return AutopickIndex.IsIndex(path) ? ReadIndexed(path) : Read(path);
        }
        if (!Directory.Exists(path))
        {
            throw new BadInputException(path, "no such file or folder");
        }
        var files = Directory.EnumerateFiles(path)
            .Where(f => FormatOf(f) is not null && !Path.GetFileName(f).Equals("autopick.star", StringComparison.OrdinalIgnoreCase))
            .OrderBy(f => Array.IndexOf(Preference, Path.GetExtension(f).ToLowerInvariant()))
            .ThenBy(f => f, StringComparer.Ordinal);
        var result = new Dictionary<string, List<Pick>>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            foreach (var (name, picks) in Read(file))
            {
                result.TryAdd(name, picks);
            }
        }
        return result;
    }

    /// <summary>
    /// The coordinates a RELION index lists (a ManualPick job's <c>manualpick.star</c>, an AutoPick job's
    /// <c>autopick.star</c>): each row's coordinate file, read from the project folder (where RELION resolves it), keyed by
    /// the micrograph's name (its file name without extension), whatever the coordinate file is called.
    /// </summary>
    public static Dictionary<string, List<Pick>> ReadIndexed(string indexPath)
    {
        var entries = AutopickIndex.Read(indexPath);
        if (entries.Count == 0) throw new BadInputException(indexPath, "the coordinate index lists no micrographs");
        var result = new Dictionary<string, List<Pick>>(StringComparer.Ordinal);
        for (var row = 0; row < entries.Count; row++)
        {
            var (micrograph, file) = (entries[row].MicrographName, entries[row].CoordinatesFile);
            var name = MicrographReader.NameOf(micrograph);
            if (result.ContainsKey(name)) throw new BadInputException(indexPath, $"row {row + 1}: micrograph {micrograph} is listed twice");
            if (!File.Exists(file))
            {
                throw new BadInputException(indexPath, $"row {row + 1}: coordinates of {micrograph}: {file}: no such file (paths are read from the RELION project folder, here {Directory.GetCurrentDirectory()})");
            }
            result[name] = Read(file).Values.SelectMany(p => p).ToList();
        }
        return result;
    }
}
