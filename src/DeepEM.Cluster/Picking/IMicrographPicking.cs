using DeepEM.Cluster.Protocol;

namespace DeepEM.Cluster.Picking;

/// <summary>
/// What a worker node does with one task: get the model replica, read the micrograph, pick it. Implemented over
/// the pipeline (Hosting/PipelineMicrographPicking); the slot actors only see this.
/// </summary>
public interface IMicrographPicking
{
    /// <summary>Picks the task's micrograph. Throws <see cref="BadMicrographException"/> when the micrograph itself is unusable.</summary>
    Task<TaskPicked> PickAsync(PickTask task, string node, CancellationToken cancel);
}

/// <summary>The micrograph cannot be picked, whoever tries: not retried.</summary>
public sealed class BadMicrographException(string problem, Exception? inner = null) : Exception(problem, inner);
