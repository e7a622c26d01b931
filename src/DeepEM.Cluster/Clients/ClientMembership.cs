using DeepEM.Cluster.Nodes;
namespace DeepEM.Cluster.Clients;

/// <summary>
/// A client (pick/train --join, or the embedded default) as a member of the cluster for as long as it follows its
/// work. If the cluster removes the member first (a client on a busy machine can miss heartbeats and be downed by the
/// split-brain resolver while the work runs on), a fresh member joins and follows again, at most <c>rejoins</c> times:
/// submitting is idempotent. The fresh member asks the nodes the removed one last saw as well as the ones it was given:
/// the node it joined through may be the one that went (a coordinator downed with it, and restarted by its supervisor
/// later), while the others still hold the cluster. A member stopped by this process's own end (SIGTERM or Ctrl-C reaching Akka's
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
            IReadOnlyList<Akka.Actor.Address> seen = [];
            // Only a member that may join again needs them (not the embedded node, whose start-up every pick waits for).
            if (attempt < rejoins)
            {
                node.System.ActorOf(KnownMembers.Recorder.Props(members =>
                {
                    Volatile.Write(ref seen, members);
                    return null;
                }), "members-seen");
            }
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
                options = options with { SeedNodes = SeedsAfter(options.SeedNodes, Volatile.Read(ref seen)) };
                rejoining?.Invoke(attempt + 1);
            }
        }
    }

    /// <summary>
    /// The seeds given first, then the nodes last seen (full addresses, so with the cluster's transport). Akka asks them
    /// all at once and joins through the first that answers, so an extra seed costs nothing while the given ones live.
    /// </summary>
    internal static IReadOnlyList<string> SeedsAfter(IReadOnlyList<string> given, IReadOnlyList<Akka.Actor.Address> seen)
    {
        static string HostPort(string address) => address.Contains('@') ? address[(address.LastIndexOf('@') + 1)..] : address;
        var seeds = given.ToList();
        foreach (var member in seen.Select(a => a.ToString()))
        {
            if (!seeds.Any(s => HostPort(s) == HostPort(member))) seeds.Add(member);
        }
        return seeds;
    }
}
