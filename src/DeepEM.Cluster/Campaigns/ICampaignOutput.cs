using DeepEM.Cluster.Protocol;

namespace DeepEM.Cluster.Campaigns;

/// <summary>
/// A campaign's output folder as the coordinator sees it: it knows nothing of file names or formats. The workers write
/// each micrograph's picks there themselves (see <see cref="Picking.IPickWriter"/>); the coordinator only asks what is
/// there and writes the index and the summary. Every write is whole or absent (a temporary file, then a rename). The
/// index and summary are written off the coordinator's thread, one at a time per campaign.
/// </summary>
public interface ICampaignOutput
{
    /// <summary>The micrograph's picks are already there (an earlier run wrote them). The folder is listed once per output opened.</summary>
    bool HasPicks(string name);

    /// <summary>The index of exactly these micrographs (the ones with picks), in submission order.</summary>
    void WriteIndex(IReadOnlyList<MicrographRef> withPicks);

    void WriteSummary(CampaignStatus status);
}

/// <summary>Opens the output of a campaign; throws <see cref="ArgumentException"/> with one line when it cannot be used.</summary>
public interface ICampaignOutputFactory
{
    ICampaignOutput Open(CampaignSpec spec);
}

/// <summary>
/// The coordinator's copies of campaign models, by SHA-256, so that a worker that cannot read the model's path
/// can fetch it in chunks, and a restarted coordinator still has it.
/// </summary>
public interface IModelStore
{
    /// <summary>Keeps a copy of the model at <paramref name="path"/>; throws <see cref="ArgumentException"/> when it is unreadable or its hash differs.</summary>
    void Register(string path, string sha256);

    /// <summary>Up to <paramref name="count"/> bytes from <paramref name="offset"/>, and the model's length; null when this store does not hold it.</summary>
    (byte[] Data, long Length)? Read(string sha256, long offset, int count);
}
