namespace DeepEM.Cluster.Protocol;

// Between the campaign coordinator and the picking slots on worker nodes (through the shard region).

/// <summary>Pick one micrograph in slot <see cref="Slot"/>. <see cref="TaskId"/> tells a result from a stale one.</summary>
public sealed record PickTask(
    int Slot,
    long TaskId,
    string CampaignId,
    MicrographRef Micrograph,
    string ModelPath,
    string ModelSha256,
    long ModelLength,
    PickSettings Settings) : IClusterMessage;

/// <summary>A slot took a task on <see cref="Node"/>: if that node is removed, the task goes elsewhere.</summary>
public sealed record TaskStarted(int Slot, long TaskId, string Node) : IClusterMessage;

/// <summary>The picks of one micrograph, centres in pixels of the micrograph as given.</summary>
public sealed record TaskPicked : IClusterMessage
{
    public required int Slot { get; init; }
    public required long TaskId { get; init; }
    public required string CampaignId { get; init; }
    public required string Name { get; init; }
    public required string Node { get; init; }
    public IReadOnlyList<double> X { get; init; } = [];
    public IReadOnlyList<double> Y { get; init; } = [];
    public IReadOnlyList<double> Score { get; init; } = [];
    public int Peaks { get; init; }
    public int RejectedByStd { get; init; }
    public long Positions { get; init; }
    public double ScoringSeconds { get; init; }
    public double TotalSeconds { get; init; }
}

/// <summary>A task failed. A bad micrograph (<see cref="BadInput"/>) is final; anything else is retried a few times.</summary>
public sealed record TaskFailed(int Slot, long TaskId, string CampaignId, string Name, string Node, string Error, bool BadInput) : IClusterMessage;

/// <summary>The shard region's hand-off stop message: finish the micrograph in hand, then stop.</summary>
public sealed record StopSlot : IClusterMessage
{
    public static readonly StopSlot Instance = new();
}

/// <summary>Asks the coordinator for the bytes of a model from <see cref="Offset"/> on (at most the chunk size).</summary>
public sealed record FetchModelChunk(string ModelSha256, long Offset) : IClusterMessage;

public sealed record ModelChunk(string ModelSha256, long Offset, long TotalLength, byte[] Data, string Error) : IClusterMessage;
