namespace DeepEM.Cluster;

/// <summary>
/// The names of the actors every node starts under <c>/user</c> (<see cref="Nodes.ClusterNode"/>), which other nodes
/// address by path: beside <see cref="Roles"/>, so that what addresses them needs nothing of the node that hosts them.
/// </summary>
internal static class ActorNames
{
    /// <summary>The campaign coordinator singleton's manager (its proxy is this name with "-proxy").</summary>
    public const string CampaignCoordinator = "campaign-coordinator";

    public const string TrainingCoordinator = "training-coordinator";

    /// <summary>One per worker node: computes gradient chunks for data-parallel training.</summary>
    public const string GradientWorker = "gradient-worker";

    /// <summary>One per worker node: computes its shards of a classification.</summary>
    public const string ClassificationWorker = "classification-worker";
}
