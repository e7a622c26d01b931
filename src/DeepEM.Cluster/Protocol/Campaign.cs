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
}

/// <summary>How to pick: the flags of <c>deepem pick</c>. Null values leave the model's own in force.</summary>
public sealed record PickSettings
{
    public float? Threshold { get; init; }
    public int? Step { get; init; }
    public double? Distance { get; init; }
    public bool KeepEdges { get; init; }
    public bool StdFilter { get; init; } = true;
    public float? StdMin { get; init; }
    public float? StdMax { get; init; }
    public bool Naive { get; init; }
    public IReadOnlyList<string> Formats { get; init; } = ["star", "box"];

    /// <summary>The same picking, field by field (record equality would compare the format lists by reference).</summary>
    public bool SameAs(PickSettings other) =>
        this with { Formats = [] } == other with { Formats = [] } && Formats.SequenceEqual(other.Formats);
}

/// <summary>
/// A picking campaign as submitted: where the picks go, which model (its path and the SHA-256 of its bytes,
/// so every replica can be checked), which micrographs. The campaign id names the output folder's campaign:
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
