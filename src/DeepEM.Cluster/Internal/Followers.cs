using Akka.Actor;

namespace DeepEM.Cluster.Internal;

/// <summary>
/// The clients that follow a campaign or a training, by its id, for the coordinator whose <paramref name="context"/>
/// this is (used only on its thread): each is watched from the moment it follows, and forgotten when it terminates.
/// </summary>
internal sealed class Followers(IActorContext context)
{
    private readonly Dictionary<string, HashSet<IActorRef>> _byId = new(StringComparer.Ordinal);

    /// <summary>True when <paramref name="follower"/> did not follow <paramref name="id"/> before.</summary>
    public bool Add(string id, IActorRef follower)
    {
        if (!_byId.TryGetValue(id, out var followers)) _byId[id] = followers = [];
        if (!followers.Add(follower)) return false;
        context.Watch(follower);
        return true;
    }

    /// <summary>A follower that terminated (the <see cref="Terminated"/> of a watched actor).</summary>
    public void Remove(IActorRef gone)
    {
        foreach (var followers in _byId.Values) followers.Remove(gone);
    }

    public void Tell(string id, object message)
    {
        foreach (var f in _byId.GetValueOrDefault(id) ?? []) f.Tell(message);
    }
}
