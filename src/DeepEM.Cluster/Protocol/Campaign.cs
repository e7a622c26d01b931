namespace DeepEM.Cluster.Protocol;

/// <summary>One micrograph of a campaign: its unique name and the path every worker reads it from.</summary>
public sealed record MicrographRef(string Name, string Path);

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
    IReadOnlyList<string> AlreadyDone);

/// <summary>Throughput of one node within a campaign.</summary>
public sealed record NodeThroughput(string Node, int Micrographs, double BusySeconds);

/// <summary>A micrograph that failed, with the reason (one line).</summary>
public sealed record FailedMicrograph(string Name, string Error);
