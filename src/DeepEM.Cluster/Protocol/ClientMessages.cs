namespace DeepEM.Cluster.Protocol;

// What a client (deepem pick --join, deepem status) says to the campaign coordinator, and its answers.

/// <summary>
/// Starts a campaign, or resumes it when its id is known (new micrographs are added). The sender also becomes
/// a follower (see <see cref="FollowCampaign"/>).
/// </summary>
/// <param name="Watch"><c>pick --watch</c>: the campaign stays open, not complete, until an <see cref="EndWatch"/>.</param>
/// <param name="Batch">The submitter's number for this submission, echoed in <see cref="CampaignAccepted.Batch"/>, so that
/// a submission sent again (a coordinator restarted meanwhile) is never taken for the next one.</param>
internal sealed record SubmitCampaign(CampaignSpec Spec, bool Watch = false, long Batch = 0) : IClusterMessage;

/// <summary>The campaign runs; <see cref="Done"/> counts micrographs with picks already (this campaign's or older ones).</summary>
public sealed record CampaignAccepted(string CampaignId, int Total, int Done, int Failed, bool Resumed, long Particles) : IClusterMessage
{
    /// <summary>The <see cref="SubmitCampaign.Batch"/> of the submission this answers.</summary>
    public long Batch { get; init; }
}

/// <summary>
/// <c>pick --watch</c> ends (SIGINT, the stop file, --idle): the campaign completes once what was submitted is settled.
/// The sender becomes a follower and hears the final status. Idempotent.
/// </summary>
internal sealed record EndWatch(string CampaignId) : IClusterMessage;

internal sealed record CampaignRejected(string CampaignId, string Reason) : IClusterMessage;

/// <summary>Asks for one campaign's status, or every campaign's when the id is empty.</summary>
internal sealed record GetCampaignStatus(string CampaignId) : IClusterMessage;

/// <summary>
/// Subscribes the sender to a campaign's <see cref="MicrographProgress"/> and to its final status. Followers
/// repeat it now and then: a coordinator that restarted forgets its followers, and the repeat is idempotent.
/// </summary>
internal sealed record FollowCampaign(string CampaignId) : IClusterMessage;

public sealed record CampaignStatus : IClusterMessage
{
    public required string CampaignId { get; init; }
    public required string OutDir { get; init; }
    public int Total { get; init; }
    public int Done { get; init; }
    public int Skipped { get; init; }
    public int Failed { get; init; }
    public int InFlight { get; init; }
    public int Pending { get; init; }
    public bool Complete { get; init; }
    public long SubmittedUnixMs { get; init; }
    public long FinishedUnixMs { get; init; }
    public long Particles { get; init; }
    public IReadOnlyList<NodeThroughput> Nodes { get; init; } = [];
    public IReadOnlyList<FailedMicrograph> Failures { get; init; } = [];
    public int PickedSinceRecovery { get; init; }
    public double CoordinatorMsPerMicrograph { get; init; }

    /// <summary><c>pick --watch</c> is adding to the campaign: it stays open.</summary>
    public bool Watching { get; init; }

    /// <summary>Micrographs that arrived in watched folders.</summary>
    public int Arrived { get; init; }

    /// <summary>Latency from a watched micrograph completely written to its picks written: how many, median, 95th percentile, most.</summary>
    public int LatencyCount { get; init; }
    public double LatencyMedianSeconds { get; init; }
    public double LatencyP95Seconds { get; init; }
    public double LatencyMaxSeconds { get; init; }

    /// <summary>Submitted and not yet settled: open or in flight.</summary>
    public int Backlog => Pending + InFlight;
}

internal sealed record CampaignStatusReport(IReadOnlyList<CampaignStatus> Campaigns) : IClusterMessage;

/// <summary>One micrograph finished (picked or failed), sent to a campaign's followers.</summary>
public sealed record MicrographProgress : IClusterMessage
{
    public required string CampaignId { get; init; }
    public required string Name { get; init; }
    public bool Failed { get; init; }
    public string Error { get; init; } = "";
    public int Particles { get; init; }
    public int Peaks { get; init; }
    public int RejectedByStd { get; init; }
    public long Positions { get; init; }
    public double ScoringSeconds { get; init; }
    public string Node { get; init; } = "";
    public int Done { get; init; }
    public int Total { get; init; }
}

/// <summary>
/// Micrographs finished since the last such message, for one campaign's followers: the coordinator sends them together
/// as it records them, so a follower of a campaign at 1,000 micrographs per second gets a few messages a second.
/// </summary>
internal sealed record MicrographProgressBatch(IReadOnlyList<MicrographProgress> Items) : IClusterMessage;
