using Akka.Cluster.Sharding;
using DeepEM.Cluster.Protocol;

namespace DeepEM.Cluster.Picking;

/// <summary>
/// The picking slots' shard region: one entity per slot and one shard per slot, so that sharding can place
/// (and rebalance, and move) every slot on its own; the number of slots is small (a few per worker node).
/// </summary>
internal sealed class SlotSharding : IMessageExtractor
{
    public const string TypeName = "picking-slot";

    public string? EntityId(object message) => message switch
    {
        PickTask task => EntityOf(task.Slot),
        _ => null,
    };

    public object? EntityMessage(object message) => message;

    public string? ShardId(object message) => EntityId(message);

    public string ShardId(string entityId, object? messageHint = null) => entityId;

    public static string EntityOf(int slot) => $"slot-{slot}";
}
