using DeepEM.Formats.Coordinates;
using DeepEM.Formats.IO;

namespace DeepEM.Pipeline.Picking;

/// <summary>
/// The files of docs/cli.md for picked micrographs: <c>DIR/NAME.star</c> (RELION, with scores),
/// <c>DIR/NAME.box</c> (EMAN2), <c>DIR/NAME.txt</c> (Topaz) on request, and <c>DIR/autopick.star</c>. Each
/// file is written whole; the .star goes last, so its presence means the micrograph is done (resume).
/// The folder is listed once; after that, what is done is kept in memory, so that a run over tens of
/// thousands of micrographs does not ask the file system about every one of them again and again.
/// </summary>
public sealed class PickOutputs(string directory, IReadOnlyList<CoordinateFormat> formats, int boxSize)
{
    private HashSet<string>? _done;

    public string Directory { get; } = directory;

    public string StarPath(string name) => StarPath(Directory, name);

    private static string StarPath(string directory, string name) => Path.Combine(directory, name + ".star");

    public bool IsDone(string name) => Done.Contains(name);

    /// <summary>
    /// The picks of <paramref name="name"/> in <paramref name="directory"/> when its files are all there (NAME.star, written
    /// last, is), read back from the .star; null when they are not, or the .star cannot be read (then it is written anew).
    /// </summary>
    public static IReadOnlyList<Pick>? ReadWritten(string directory, string name)
    {
        CheckName(name);
        var star = StarPath(directory, name);
        if (!File.Exists(star)) return null;
        try
        {
            return RelionStarCoordinates.ReadOne(star);
        }
        catch (Exception e) when (e is Formats.BadInputException or IOException)
        {
            return null;
        }
    }

    // Names may be paths (a RELION layout: Micrographs/x.star), so the listing goes into sub-folders, but not into
    // hidden ones (.deepem, the embedded cluster's state).
    private HashSet<string> Done => _done ??= System.IO.Directory.Exists(Directory)
        ? System.IO.Directory.EnumerateFiles(Directory, "*.star", new EnumerationOptions { RecurseSubdirectories = true })
            .Select(f => Path.GetRelativePath(Directory, f)[..^".star".Length].Replace(Path.DirectorySeparatorChar, '/'))
            .Where(n => n != "autopick")
            .ToHashSet(StringComparer.Ordinal)
        : new HashSet<string>(StringComparer.Ordinal);

    /// <summary>
    /// Names must stay inside the output folder: a file name, or a relative path of file names (Micrographs/x), never
    /// absolute, never with an empty, "." or ".." part, a hidden part (a leading '.', which the listing skips), a
    /// backslash or a control character, parts of at most 200 characters and 1,000 in all. The one rule for every name
    /// that becomes a path in an output folder: the client's (CampaignSpecs), the coordinator's for names that arrive over
    /// the network, and the writer's.
    /// </summary>
    public static void CheckName(string name)
    {
        if (name.Length is 0 or > 1000
            || name.Split('/').Any(part => part.Length is 0 or > 200 || part is "." or ".." || part.StartsWith('.') || part.Any(c => c == '\\' || char.IsControl(c))))
        {
            var printable = new string(name.Take(80).Select(c => char.IsControl(c) ? '?' : c).ToArray());
            throw new ArgumentException($"micrograph name '{printable}' cannot be a path in the output folder (empty parts, '.', '..', a hidden part, a backslash, a control character, or too long)");
        }
    }

    /// <summary>
    /// <see cref="CheckName"/> for every micrograph of a run, and no two with one name (their picks would overwrite each
    /// other): the client's check before it submits, the coordinator's for what arrives, and the one-process loop's.
    /// </summary>
    /// <param name="hint">Added to the message about a shared name (what the user can do about it).</param>
    public static void CheckNames(IEnumerable<(string Name, string Path)> micrographs, string hint = "")
    {
        var list = micrographs.ToList();
        foreach (var m in list) CheckName(m.Name);
        var duplicate = list.GroupBy(m => m.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"two micrographs share the name '{duplicate.Key}' ({string.Join(", ", duplicate.Select(d => d.Path))}); their picks would overwrite each other{hint}");
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
                CoordinateFormat.Topaz => TopazCoordinates.ToText([new KeyValuePair<string, List<Pick>>(name[(name.LastIndexOf('/') + 1)..], picks.ToList())]),
                CoordinateFormat.Csv => CsvCoordinates.ToText(picks),
                _ => throw new ArgumentException($"picks cannot be written as {format}"),
            }));
        }
        files.Add((StarPath(name), RelionStarCoordinates.ToText(picks)));
        AtomicFile.WriteAllTexts(files);
        // Only a folder that was listed keeps count: a worker writing into a campaign's folder never lists it.
        _done?.Add(name);
    }

    /// <summary>
    /// Deletes what killed writers left of these micrographs' files, of the index and of <paramref name="alsoInFolder"/>
    /// (temporary files that were never renamed into place, last written before <paramref name="writtenBeforeUtc"/>), in
    /// the folders the names put them in; called when the run is over. Returns how many were deleted.
    /// </summary>
    public int RemoveLeftovers(IEnumerable<string> names, DateTime writtenBeforeUtc, IReadOnlyCollection<string>? alsoInFolder = null)
    {
        var targets = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal) { [Directory] = [] };
        foreach (var name in names)
        {
            var path = Path.Combine(Directory, name);
            var dir = Path.GetDirectoryName(path)!;
            if (!targets.TryGetValue(dir, out var files)) targets[dir] = files = new HashSet<string>(StringComparer.Ordinal);
            files.Add(Path.GetFileName(path));
        }
        var rootFiles = new HashSet<string>(alsoInFolder ?? [], StringComparer.Ordinal) { "autopick.star" };
        // A micrograph's target is its name with one of the coordinate files' extensions (whichever formats an earlier run wrote).
        return targets.Sum(t => AtomicFile.RemoveLeftovers(t.Key, file => t.Key == Directory && rootFiles.Contains(file)
            || CoordinateFiles.FormatOf(file) is not null && t.Value.Contains(Path.GetFileNameWithoutExtension(file)), writtenBeforeUtc));
    }

    /// <summary>Rewrites the RELION 4 index for every micrograph whose picks are on disk, in input order.</summary>
    public void WriteIndex(IEnumerable<(string Name, string MicrographPath)> micrographs) =>
        WriteIndexOf(micrographs.Where(m => IsDone(m.Name)).Select(m => new AutopickEntry(m.MicrographPath, StarPath(m.Name))));

    /// <summary>Rewrites the RELION 4 index with exactly these rows, in this order (the caller knows their picks are there).</summary>
    public void WriteIndexOf(IEnumerable<AutopickEntry> entries) => AutopickIndex.Write(Path.Combine(Directory, "autopick.star"), entries);
}
