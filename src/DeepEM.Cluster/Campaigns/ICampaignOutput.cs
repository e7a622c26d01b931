using DeepEM.Cluster.Protocol;

namespace DeepEM.Cluster.Campaigns;

/// <summary>
/// A campaign's output folder as the coordinator sees it: it knows nothing of file names or formats. The workers write
/// each micrograph's picks there themselves (see <see cref="Picking.IPickWriter"/>); the coordinator only asks what is
/// there and writes the index and the summary. Every write is whole or absent (a temporary file, then a rename). The
/// index and summary are written off the coordinator's thread, one at a time per campaign.
/// </summary>
internal interface ICampaignOutput
{
    /// <summary>
    /// Those of these micrographs whose picks are already there (an earlier run wrote them). A few names are looked up
    /// one by one (what <c>pick --watch</c> adds every few seconds to a campaign of 100,000); many list the folder once.
    /// </summary>
    IReadOnlySet<string> WithPicks(IReadOnlyCollection<string> names);

    /// <summary>The index of exactly these micrographs (the ones with picks), in submission order.</summary>
    void WriteIndex(IReadOnlyList<MicrographRef> withPicks);

    /// <summary>campaign.json: at the end, and while <c>pick --watch</c> keeps the campaign open.</summary>
    void WriteSummary(CampaignStatus status);

    /// <summary>
    /// Clears away what writers killed in the middle of a write (a worker's SIGKILL) left of these micrographs' files and of
    /// the campaign's own, last written before <paramref name="writtenBeforeUtc"/> (when the campaign was over: a
    /// micrograph submitted again since has a live writer).
    /// </summary>
    void RemoveLeftovers(IReadOnlyList<string> names, DateTime writtenBeforeUtc);
}

/// <summary>Opens the output of a campaign; throws <see cref="ArgumentException"/> with one line when it cannot be used.</summary>
internal interface ICampaignOutputFactory
{
    ICampaignOutput Open(CampaignSpec spec);
}
