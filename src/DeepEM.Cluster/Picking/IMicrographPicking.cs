using DeepEM.Cluster.Protocol;
using DeepEM.Formats.Coordinates;
using DeepEM.Pipeline.Picking;

namespace DeepEM.Cluster.Picking;

/// <summary>
/// What a worker node does with one task: get the model replica, read the micrograph, pick it. Implemented over the
/// pipeline (Nodes/PipelineMicrographPicking); the slot actors only see this.
/// </summary>
internal interface IMicrographPicking
{
    /// <summary>Picks the task's micrograph. Throws <see cref="BadMicrographException"/> when the micrograph itself is unusable.</summary>
    Task<PickOutcome> PickAsync(PickTask task, string node, CancellationToken cancel);

    /// <summary>A slot on <paramref name="node"/> took the task and will pick it after those before it (for observers; nothing by default).</summary>
    void Queued(PickTask task, string node)
    {
    }
}

/// <summary>One micrograph's picks as the pipeline made them, and the box of the model that picked them (EMAN2 .box files give corners).</summary>
internal sealed record PickOutcome(MicrographPicks Picks, int BoxSize)
{
    /// <summary>Picked before its task came (Nodes/PickAhead: while the embedded node formed its cluster).</summary>
    public bool Ahead { get; init; }
}

/// <summary>
/// Writes a picked micrograph's coordinate files into its campaign's output folder, on the worker node that picked it
/// (Storage/FolderPickWriter). Whole or not at all, and on disk (flushed) when the task completes; fails with
/// <see cref="IOException"/> or <see cref="UnauthorizedAccessException"/> when the folder cannot be written from this node.
/// </summary>
internal interface IPickWriter
{
    Task WriteAsync(PickTask task, PickOutcome outcome);

    /// <summary>
    /// The picks the task's micrograph already has in its output folder, whole (a worker killed after writing them and
    /// before the coordinator journalled them, whose task came back after a restart); null when it has none.
    /// </summary>
    Task<IReadOnlyList<Pick>?> WrittenAsync(PickTask task);
}

/// <summary>The micrograph cannot be picked, whoever tries: not retried.</summary>
internal sealed class BadMicrographException(string problem, Exception? inner = null) : Exception(problem, inner);
