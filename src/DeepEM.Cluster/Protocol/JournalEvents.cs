namespace DeepEM.Cluster.Protocol;

// What the campaign coordinator writes to its journal. Assignments to slots are not journalled: after a
// restart, whatever was in flight is simply pending again (a result that arrives late is still accepted once).
// Micrographs are named in events by their index in the campaign (the order in which they were submitted), which
// never changes; a campaign's list of micrographs is in its CampaignSubmitted and MicrographsAdded events.

internal interface ICampaignEvent : IClusterMessage
{
    string CampaignId { get; }
}

internal sealed record CampaignSubmitted(CampaignSpec Spec) : ICampaignEvent
{
    public string CampaignId => Spec.CampaignId;
}

/// <summary>
/// Micrographs (re)submitted to a known campaign: new ones, failed ones, and done ones whose picks are gone from the
/// output folder are all pending again; those in <see cref="AlreadyDone"/> have picks in the folder.
/// </summary>
internal sealed record MicrographsAdded(string CampaignId, IReadOnlyList<MicrographRef> Micrographs, IReadOnlyList<string> AlreadyDone) : ICampaignEvent;

/// <summary>One micrograph of a <see cref="MicrographsPicked"/> event; <paramref name="LatencySeconds"/> from its arrival in
/// a watched folder to its picks written (0 when it did not arrive by watching).</summary>
internal readonly record struct PickedMicrograph(int Index, int Particles, float Seconds, string Node, float LatencySeconds = 0);

/// <summary>
/// Micrographs whose picks the workers wrote, recorded together: the coordinator journals what arrived while its
/// previous write was under way (one row for many micrographs).
/// </summary>
internal sealed record MicrographsPicked(string CampaignId, IReadOnlyList<PickedMicrograph> Micrographs) : ICampaignEvent;

/// <summary>One micrograph picked, by name: what versions before the batched <see cref="MicrographsPicked"/> wrote. Read on recovery, never written.</summary>
internal sealed record MicrographPicked(string CampaignId, string Name, string Node, int Particles, double Seconds) : ICampaignEvent;

/// <summary>A micrograph failed for good. <see cref="Index"/> is null in events of older versions (then the name says which).</summary>
internal sealed record MicrographFailed(string CampaignId, string Name, string Error, int? Index = null) : ICampaignEvent;

internal sealed record CampaignCompleted(string CampaignId, long FinishedUnixMs) : ICampaignEvent
{
    /// <summary>A <see cref="CampaignOutputsWritten"/> follows once the final index and summary are on disk; false in
    /// events of older versions, which wrote them without saying so.</summary>
    public bool OutputsFollow { get; init; }
}

/// <summary>
/// A completed campaign's final index and summary are on disk. A coordinator that recovers a campaign completed without
/// it (killed between the two) writes them again.
/// </summary>
internal sealed record CampaignOutputsWritten(string CampaignId) : ICampaignEvent;

/// <summary><c>pick --watch</c> began or ended adding to the campaign; while it is watched it does not complete.</summary>
internal sealed record CampaignWatched(string CampaignId, bool Watching) : ICampaignEvent;

/// <summary>The whole coordinator state, for snapshots.</summary>
internal sealed record CoordinatorSnapshot(IReadOnlyList<CampaignSnapshot> Campaigns) : IClusterMessage;

/// <summary>How a micrograph stands in a snapshot (in flight is not remembered: it is open again after a restart).</summary>
internal enum Settlement : byte
{
    Open = 0,
    Done = 1,
    Skipped = 2,
    Failed = 3,
}

/// <summary>
/// One campaign, compactly: its spec with every micrograph, one byte per micrograph, the particles of the done ones
/// (in index order), the failures' reasons, and per-node counts.
/// </summary>
internal sealed record CampaignSnapshot(
    CampaignSpec Spec,
    byte[] Settled,
    IReadOnlyList<int> DoneParticles,
    IReadOnlyList<(int Index, string Error)> Failures,
    IReadOnlyList<NodeThroughput> Nodes,
    long FinishedUnixMs)
{
    public bool Watching { get; init; }

    public bool OutputsPending { get; init; }

    /// <summary>The latency of each done micrograph (parallel to <see cref="DoneParticles"/>); empty when none was watched.</summary>
    public IReadOnlyList<float> DoneLatencies { get; init; } = [];
}
