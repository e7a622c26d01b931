using DeepEM.Formats.Coordinates;
using DeepEM.Formats.IO;

namespace DeepEM.Pipeline.Picking;

/// <summary>
/// The files of CONTRACT.md for picked micrographs: <c>DIR/NAME.star</c> (RELION, with scores),
/// <c>DIR/NAME.box</c> (EMAN2), <c>DIR/NAME.txt</c> (Topaz) on request, and <c>DIR/autopick.star</c>. Each
/// file is written whole; the .star goes last, so its presence means the micrograph is done (resume).
/// The folder is listed once; after that, what is done is kept in memory, so that a run over tens of
/// thousands of micrographs does not ask the file system about every one of them again and again.
/// </summary>
public sealed class PickOutputs(string directory, IReadOnlyList<CoordinateFormat> formats, int boxSize)
{
    private HashSet<string>? _done;

    public string Directory { get; } = directory;

    public string StarPath(string name) => Path.Combine(Directory, name + ".star");

    public bool IsDone(string name) => Done.Contains(name);

    private HashSet<string> Done => _done ??= System.IO.Directory.Exists(Directory)
        ? System.IO.Directory.EnumerateFiles(Directory, "*.star")
            .Select(Path.GetFileNameWithoutExtension)
            .Where(n => n is not null && n != "autopick")
            .Select(n => n!)
            .ToHashSet(StringComparer.Ordinal)
        : new HashSet<string>(StringComparer.Ordinal);

    /// <summary>Names must not leave the output folder: a name with a path separator or "..".</summary>
    public static void CheckName(string name)
    {
        if (name.Length == 0 || name.Contains('/') || name.Contains('\\') || name is "." or ".." || name.Contains('\0'))
        {
            throw new ArgumentException($"micrograph name '{name}' cannot be used as a file name");
        }
    }

    /// <summary>The micrograph's files, made durable together; the .star is renamed into place last (it means done).</summary>
    public void Write(string name, IReadOnlyList<Pick> picks)
    {
        CheckName(name);
        var files = new List<(string, string)>(formats.Count);
        foreach (var format in formats.Where(f => f != CoordinateFormat.Star))
        {
            var path = Path.Combine(Directory, name + CoordinateFiles.Extension(format));
            files.Add((path, format switch
            {
                CoordinateFormat.Box => EmanBox.ToText(picks, boxSize),
                CoordinateFormat.Topaz => TopazCoordinates.ToText([new KeyValuePair<string, List<Pick>>(name, picks.ToList())]),
                CoordinateFormat.Csv => CsvCoordinates.ToText(picks),
                _ => throw new ArgumentException($"picks cannot be written as {format}"),
            }));
        }
        files.Add((StarPath(name), RelionStarCoordinates.ToText(picks)));
        AtomicFile.WriteAllTexts(files);
        // Only a folder that was listed keeps count: a worker writing into a campaign's folder never lists it.
        _done?.Add(name);
    }

    /// <summary>Rewrites the RELION 4 index for every micrograph whose picks are on disk, in input order.</summary>
    public void WriteIndex(IEnumerable<(string Name, string MicrographPath)> micrographs) => WriteIndexOf(micrographs.Where(m => IsDone(m.Name)));

    /// <summary>Rewrites the RELION 4 index with exactly these micrographs, in this order (the caller knows their picks are there).</summary>
    public void WriteIndexOf(IEnumerable<(string Name, string MicrographPath)> micrographs) =>
        AutopickIndex.Write(Path.Combine(Directory, "autopick.star"), micrographs.Select(m => new AutopickEntry(m.MicrographPath, StarPath(m.Name))));
}
