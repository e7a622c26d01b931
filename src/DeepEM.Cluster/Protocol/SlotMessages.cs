using DeepEM.Formats.Coordinates;
using DeepEM.Pipeline.Picking;

namespace DeepEM.Cluster.Protocol;

// Between the campaign coordinator and the picking slots on worker nodes (through the shard region).

/// <summary>
/// Pick micrograph <see cref="Index"/> of a campaign in slot <see cref="Slot"/> and write its picks into
/// <see cref="OutDir"/>. <see cref="TaskId"/> tells a result from a stale one; <see cref="Epoch"/> names the coordinator
/// incarnation that sent it, so a slot drops the waiting work of a coordinator that has since restarted.
/// </summary>
internal sealed record PickTask(
    int Slot,
    long TaskId,
    long Epoch,
    string CampaignId,
    int Index,
    MicrographRef Micrograph,
    string OutDir,
    string ModelPath,
    string ModelSha256,
    long ModelLength,
    PickSettings Settings,
    IReadOnlyList<CoordinateFormat> Formats) : IClusterMessage;

/// <summary>
/// A slot on <see cref="Node"/> holds the task (in hand, or waiting behind the one in hand): if that node is removed,
/// the task goes elsewhere.
/// </summary>
internal sealed record TaskAccepted(int Slot, long TaskId, string Node) : IClusterMessage;

/// <summary>A slot that is stopping (its node leaves, or sharding moves it) gives back a task it never started.</summary>
internal sealed record TaskReturned(int Slot, long TaskId) : IClusterMessage;

/// <summary>
/// One micrograph is picked and its coordinate files are written in the campaign's output folder (the worker wrote them);
/// the coordinator only records that it happened.
/// </summary>
internal sealed record TaskPicked : IClusterMessage
{
    public required int Slot { get; init; }
    public required long TaskId { get; init; }
    public required string CampaignId { get; init; }
    public required int Index { get; init; }
    public required string Name { get; init; }
    public required string Node { get; init; }
    public int Particles { get; init; }
    public int Peaks { get; init; }
    public int RejectedByStd { get; init; }
    public long Positions { get; init; }
    public double ScoringSeconds { get; init; }
    public double TotalSeconds { get; init; }
}

/// <summary>A task failed. A bad micrograph (<see cref="BadInput"/>) is final; anything else is retried a few times.</summary>
internal sealed record TaskFailed(int Slot, long TaskId, string CampaignId, int Index, string Name, string Node, string Error, bool BadInput) : IClusterMessage;

/// <summary>The shard region's hand-off stop message: finish the micrograph in hand, give back the waiting ones, then stop.</summary>
internal sealed record StopSlot : IClusterMessage
{
    public static readonly StopSlot Instance = new();
}

/// <summary>Asks a coordinator for the bytes of a blob (a model, a training input) from <see cref="Offset"/> on (at most the chunk size).</summary>
internal sealed record FetchBlobChunk(string Sha256, long Offset) : IClusterMessage;

internal sealed record BlobChunk(string Sha256, long Offset, long TotalLength, byte[] Data, string Error) : IClusterMessage;
