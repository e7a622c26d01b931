namespace DeepEM.Cluster.Protocol;

// What the campaign coordinator writes to its journal. Assignments to slots are not journalled: after a
// restart, whatever was in flight is simply pending again (a result that arrives late is still accepted once).

public interface ICampaignEvent : IClusterMessage
{
    string CampaignId { get; }
}

public sealed record CampaignSubmitted(CampaignSpec Spec) : ICampaignEvent
{
    public string CampaignId => Spec.CampaignId;
}

/// <summary>
/// Micrographs (re)submitted to a known campaign: new ones, failed ones, and done ones whose picks are gone from the
/// output folder are all pending again; those in <see cref="AlreadyDone"/> have picks in the folder.
/// </summary>
public sealed record MicrographsAdded(string CampaignId, IReadOnlyList<MicrographRef> Micrographs, IReadOnlyList<string> AlreadyDone) : ICampaignEvent;

public sealed record MicrographPicked(string CampaignId, string Name, string Node, int Particles, double Seconds) : ICampaignEvent;

public sealed record MicrographFailed(string CampaignId, string Name, string Error) : ICampaignEvent;

public sealed record CampaignCompleted(string CampaignId, long FinishedUnixMs) : ICampaignEvent;

/// <summary>The whole coordinator state, for snapshots (what is done, failed, and per-node counts).</summary>
public sealed record CoordinatorSnapshot(IReadOnlyList<CampaignSnapshot> Campaigns) : IClusterMessage;

public sealed record CampaignSnapshot(
    CampaignSpec Spec,
    IReadOnlyList<(string Name, int Particles)> Done,
    IReadOnlyList<FailedMicrograph> Failed,
    IReadOnlyList<NodeThroughput> Nodes,
    long FinishedUnixMs);
