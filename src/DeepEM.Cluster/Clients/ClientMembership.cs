using DeepEM.Cluster.Nodes;
namespace DeepEM.Cluster.Clients;

/// <summary>
/// A client (pick/train --join, or the embedded default) as a member of the cluster for as long as it follows its
/// work. If the cluster removes the member first (a client on a busy machine can miss heartbeats and be downed by the
/// split-brain resolver while the work runs on), a fresh member joins and follows again, at most <c>rejoins</c> times:
/// submitting is idempotent. A member stopped by this process's own end (SIGTERM or Ctrl-C reaching Akka's
/// process-exit hook) is not replaced: that is an interruption, and ends in <see cref="OperationCanceledException"/>.
/// </summary>
internal static class ClientMembership
{
    public static async Task<T> RunAsync<T>(NodeOptions options, Func<ClusterNode, Task<T>> follow, int rejoins, Action<int>? rejoining,
        Action<ClusterNode>? started, CancellationToken cancel)
    {
        for (var attempt = 0; ; attempt++)
        {
            await using var node = await ClusterNode.StartAsync(options, cancel);
            started?.Invoke(node);
            try
            {
                return await follow(node);
            }
            catch (ClientRemovedException) when (Akka.Actor.CoordinatedShutdown.Get(node.System).ShutdownReason is Akka.Actor.CoordinatedShutdown.ClrExitReason)
            {
                throw new OperationCanceledException("this process is being stopped");
            }
            catch (ClientRemovedException) when (attempt < rejoins && !cancel.IsCancellationRequested)
            {
                rejoining?.Invoke(attempt + 1);
            }
        }
    }
}
