using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster.Sharding;

namespace DeepEM.Cluster.Picking;

/// <summary>
/// Places picking slots on worker nodes in proportion to their lanes (one per GPU; <see cref="Roles.Lanes"/>): a slot
/// goes to the node with the fewest slots per lane, and one slot at a time moves from the most loaded node to the least
/// loaded one while the receiver then holds fewer slots per lane than the giver did (each move lowers the highest load,
/// so moves end). With one lane everywhere this is Akka's
/// least-shards allocation (a move once two nodes differ by two slots); a node with four GPUs among nodes with one
/// gets four times their slots instead of the same number.
/// </summary>
internal sealed class LaneWeightedAllocation : IShardAllocationStrategy, IActorSystemDependentAllocationStrategy
{
    private Akka.Cluster.Cluster? _cluster;

    public void Start(ActorSystem system) => _cluster = Akka.Cluster.Cluster.Get(system);

    public Task<IActorRef> AllocateShard(IActorRef requester, string shardId, IImmutableDictionary<IActorRef, IImmutableList<string>> currentShardAllocations) =>
        Task.FromResult(Least(Loads(currentShardAllocations)) ?? requester);

    public Task<IImmutableSet<string>> Rebalance(IImmutableDictionary<IActorRef, IImmutableList<string>> currentShardAllocations, IImmutableSet<string> rebalanceInProgress)
    {
        if (rebalanceInProgress.Count > 0) return Task.FromResult<IImmutableSet<string>>(ImmutableHashSet<string>.Empty);
        var loads = Loads(currentShardAllocations);
        var from = ToMoveFrom(loads);
        IImmutableSet<string> moving = from is null ? ImmutableHashSet<string>.Empty : ImmutableHashSet.Create(currentShardAllocations[from][^1]);
        return Task.FromResult(moving);
    }

    private List<(IActorRef Region, int Shards, int Lanes)> Loads(IImmutableDictionary<IActorRef, IImmutableList<string>> allocations) =>
        allocations.Select(a => (a.Key, a.Value.Count, LanesOf(a.Key))).ToList();

    private int LanesOf(IActorRef region)
    {
        if (_cluster is null) return 1;
        // The local region's path has no host: it is this node.
        var address = region.Path.Address.HasLocalScope ? _cluster.SelfAddress : region.Path.Address;
        var member = _cluster.State.Members.FirstOrDefault(m => m.Address == address);
        return member is null ? 1 : Roles.LanesOf(member.Roles);
    }

    /// <summary>The region with the fewest shards per lane (the fewer shards first on a tie, then the first listed).</summary>
    public static T? Least<T>(IReadOnlyList<(T Region, int Shards, int Lanes)> loads) where T : class
    {
        (T Region, int Shards, int Lanes)? best = null;
        foreach (var l in loads)
        {
            if (best is not { } b || (long)l.Shards * b.Lanes < (long)b.Shards * l.Lanes || ((long)l.Shards * b.Lanes == (long)b.Shards * l.Lanes && l.Shards < b.Shards))
            {
                best = l;
            }
        }
        return best?.Region;
    }

    /// <summary>
    /// The region to take one shard from: the most loaded per lane, when the least loaded would hold fewer shards per lane
    /// with one more than the giver holds now; null when no move lowers the highest load.
    /// </summary>
    public static T? ToMoveFrom<T>(IReadOnlyList<(T Region, int Shards, int Lanes)> loads) where T : class
    {
        if (loads.Count < 2) return null;
        var most = loads.MaxBy(l => (double)l.Shards / l.Lanes);
        var least = loads.MinBy(l => (double)l.Shards / l.Lanes);
        if (most.Shards == 0 || ReferenceEquals(most.Region, least.Region)) return null;
        return (long)(least.Shards + 1) * most.Lanes < (long)most.Shards * least.Lanes ? most.Region : null;
    }
}
