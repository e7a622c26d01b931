using DeepEM.Formats.Coordinates;
using DeepEM.Pipeline.Picking;

namespace DeepEM.Cluster.Protocol;

/// <summary>One micrograph of a campaign: its unique name and the path every worker reads it from.</summary>
/// <param name="Name">The campaign's key for the micrograph and its output files' path in the output folder, without
/// extension: the file name without extension, or with a RELION layout the micrograph's path as listed (Micrographs/x).</param>
/// <param name="Path">The micrograph's absolute path, where every node reads it.</param>
public sealed record MicrographRef(string Name, string Path)
{
    /// <summary>The micrograph's name as the user gave it (a relative path stays relative, a name from a STAR file stays
    /// as written), for autopick.star; null when it is <see cref="Path"/> relative to the campaign's project folder.</summary>
    public string? Listed { get; init; }

    /// <summary>When <c>pick --watch</c> saw the end of the file's write (Unix ms, the watching client's clock), for the
    /// latency to its picks; 0 for a micrograph that was not watched arriving.</summary>
    public long ArrivedUnixMs { get; init; }
}

/// <summary>
/// A picking campaign as submitted: where the picks go, which model (its path and the SHA-256 of its bytes,
/// so every replica can be checked), which micrographs, how they are scored (<see cref="PickSettings"/>, the same
/// record the picker takes) and in which formats the picks are written. The campaign id names the output folder's campaign:
/// submitting the same command again finds the same campaign and resumes it.
/// </summary>
public sealed record CampaignSpec(
    string CampaignId,
    string OutDir,
    string ModelPath,
    string ModelSha256,
    long ModelLength,
    IReadOnlyList<MicrographRef> Micrographs,
    PickSettings Settings,
    long SubmittedUnixMs,
    IReadOnlyList<string> AlreadyDone)
{
    /// <summary>The folder relative paths were given in (the client's working folder: a RELION project's folder), for
    /// the names in autopick.star; null for a campaign of an older version (absolute names).</summary>
    public string? ProjectDir { get; init; }

    /// <summary>The files written for each micrograph (.star always; the workers write them).</summary>
    public IReadOnlyList<CoordinateFormat> Formats { get; init; } = PickSettings.DefaultFormats;

    /// <summary>The same scoring and the same formats: picks of two settings in one folder would not be one dataset.</summary>
    public bool PicksLike(CampaignSpec other) => Settings == other.Settings && Formats.SequenceEqual(other.Formats);

    /// <summary>The micrograph's name for RELION's index: as given, relative to <see cref="ProjectDir"/>.</summary>
    public string ListedName(MicrographRef m) => m.Listed ?? (ProjectDir is { } dir ? System.IO.Path.GetRelativePath(dir, m.Path) : m.Path);

    /// <summary>A file of the campaign's as RELION resolves it from the project folder: relative when inside it.</summary>
    public string ProjectPath(string absolute)
    {
        if (ProjectDir is not { } dir) return absolute;
        var relative = System.IO.Path.GetRelativePath(dir, absolute);
        return relative == ".." || relative.StartsWith("../", StringComparison.Ordinal) || System.IO.Path.IsPathRooted(relative) ? absolute : relative;
    }
}

/// <summary>Throughput of one node within a campaign.</summary>
public sealed record NodeThroughput(string Node, int Micrographs, double BusySeconds);

/// <summary>A micrograph that failed, with the reason (one line).</summary>
public sealed record FailedMicrograph(string Name, string Error);
