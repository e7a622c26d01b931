using DeepEM.Cluster.Blobs;
using DeepEM.Cluster.Protocol;
using DeepEM.Formats;
using DeepEM.Formats.Coordinates;
using DeepEM.Pipeline.Picking;

namespace DeepEM.Cluster.Clients;

/// <summary>Builds the spec of a picking campaign from what the user gave: absolute paths, names, the model's hash.</summary>
public static class CampaignSpecs
{
    /// <summary>Throws <see cref="ArgumentException"/> (one line) for names that clash or cannot be file names.</summary>
    /// <param name="micrographs">The micrographs as the user gave them: paths (relative ones relative to the working folder,
    /// which becomes the campaign's project folder) or names from a RELION STAR file, as written there.</param>
    /// <param name="relionLayout">Name each micrograph's output files by its path as given (OUT/Micrographs/x.star for
    /// Micrographs/x.mrc), where RELION 3.1 looks for them, rather than by its file name alone.</param>
    /// <param name="formats">The files written for each micrograph; .star and .box when null.</param>
    public static CampaignSpec For(string modelPath, IEnumerable<string> micrographs, string outDir, PickSettings settings,
        IReadOnlyList<CoordinateFormat>? formats = null, bool relionLayout = false)
    {
        var absoluteOut = Path.GetFullPath(outDir);
        var project = Directory.GetCurrentDirectory();
        var refs = micrographs.Select(given => RefOf(given, relionLayout, project)).ToList();
        PickOutputs.CheckNames(refs.Select(r => (r.Name, r.Path)), relionLayout ? "" : " (--relion-layout names each by its path)");
        var model = HashedFiles.Read(modelPath);
        return new CampaignSpec(CampaignClient.CampaignIdOf(absoluteOut), absoluteOut, model.Path, model.Sha256,
            model.Bytes.LongLength, refs, settings, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), [])
        {
            ProjectDir = project,
            Formats = formats ?? PickSettings.DefaultFormats,
        };
    }

    /// <summary>
    /// One micrograph as given (relative to <paramref name="project"/>, the working folder, or absolute): its name in the
    /// campaign (<see cref="RelionName"/> with a RELION layout), its absolute path, and the name as given where that is
    /// not its path relative to the project folder. Throws <see cref="ArgumentException"/> for a name that cannot be.
    /// </summary>
    public static MicrographRef RefOf(string given, bool relionLayout, string project)
    {
        var full = Path.GetFullPath(given, project);
        return new MicrographRef(relionLayout ? RelionName(given) : MicrographReader.NameOf(given), full)
        {
            Listed = Path.GetRelativePath(project, full) == given ? null : given,
        };
    }

    /// <summary>
    /// A micrograph's name in a RELION layout: its path as given without the extension (RELION 3.1 looks for
    /// COORD_DIR/Micrographs/x.star for Micrographs/x.mrc), an absolute one without its leading slash.
    /// </summary>
    public static string RelionName(string given)
    {
        var parts = given.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToList();
        if (parts.Contains(".."))
        {
            throw new ArgumentException($"{given}: a RELION layout names the output files by the micrograph's path, which must not contain '..' (give the micrographs from the project folder)");
        }
        if (parts.Count == 0) throw new ArgumentException($"'{given}' is not a micrograph path");
        parts[^1] = Path.GetFileNameWithoutExtension(parts[^1]);
        return string.Join('/', parts);
    }
}
