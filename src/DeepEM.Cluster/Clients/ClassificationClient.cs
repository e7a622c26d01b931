using DeepEM.Cluster.Classification;
using DeepEM.Cluster.Nodes;

namespace DeepEM.Cluster.Clients;

/// <summary>
/// Runs a classification from a node (the embedded one, or a client member of a remote cluster): the driver actor
/// lives on this node, the work on the worker nodes. A classification keeps no journal: if this node is removed from
/// the cluster, a new member runs it again from the start, which gives the same result.
/// </summary>
public sealed class ClassificationClient(ClusterNode node)
{
    public async Task<ClassificationOutcome> RunAsync(ClassificationJob job, Action<ClassificationProgress> progress, CancellationToken cancel = default)
    {
        var done = new TaskCompletionSource<ClassificationOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        var settings = ClassificationSettings.From(node.System.Settings.Config);
        var driver = node.System.ActorOf(ClassificationDriver.Props(job, settings, progress, done), $"classification-{Guid.NewGuid():N}");
        await using var registration = cancel.Register(() => done.TrySetCanceled());
        _ = node.System.WhenTerminated.ContinueWith(_ => done.TrySetException(new ClientRemovedException(job.JobId,
            $"this client left the cluster before classification {job.JobId} was done: run the same command again")), TaskScheduler.Default);
        try
        {
            return await done.Task;
        }
        finally
        {
            node.System.Stop(driver);
        }
    }

    /// <summary>Starts a member with <paramref name="options"/> and runs the classification from it (<see cref="ClientMembership"/>).</summary>
    public static Task<ClassificationOutcome> RunAsMemberAsync(NodeOptions options, ClassificationJob job, Action<ClassificationProgress> progress, int rejoins,
        Action<int>? rejoining = null, Action<ClusterNode>? started = null, CancellationToken cancel = default)
        => ClientMembership.RunAsync(options, node => new ClassificationClient(node).RunAsync(job, progress, cancel), rejoins, rejoining, started, cancel);
}
