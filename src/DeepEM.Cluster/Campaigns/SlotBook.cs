namespace DeepEM.Cluster.Campaigns;

/// <summary>
/// The coordinator's view of its picking slots: which tasks each slot holds (at most <c>window</c>: the one in hand and
/// those waiting behind it, so that a worker never waits a round trip between micrographs), on which node, and which
/// are due to be sent again. No actors: the coordinator drives it, and tests drive it alone.
/// </summary>
internal sealed class SlotBook(int window)
{
    /// <summary>A task handed to a slot. <see cref="Node"/> is null until the slot says it holds it.</summary>
    public sealed record Assignment(long TaskId, string CampaignId, int Index, DateTime SentAt, string? Node);

    // Per slot, its tasks in the order they were sent: the slot works through them in that order.
    private readonly Dictionary<int, List<Assignment>> _slots = [];

    public int Window => window;

    /// <summary>Tasks handed out and not yet answered.</summary>
    public int Outstanding { get; private set; }

    public int Room(int slot) => window - (_slots.TryGetValue(slot, out var tasks) ? tasks.Count : 0);

    public void Add(int slot, Assignment assignment)
    {
        if (!_slots.TryGetValue(slot, out var tasks)) _slots[slot] = tasks = new List<Assignment>(window);
        tasks.Add(assignment);
        Outstanding++;
    }

    /// <summary>Removes the slot's task with this id; null when the slot holds no such task (a stale or repeated answer).</summary>
    public Assignment? Release(int slot, long taskId)
    {
        if (!_slots.TryGetValue(slot, out var tasks)) return null;
        var i = tasks.FindIndex(t => t.TaskId == taskId);
        if (i < 0) return null;
        var assignment = tasks[i];
        tasks.RemoveAt(i);
        Outstanding--;
        return assignment;
    }

    /// <summary>The slot holds the task on <paramref name="node"/>.</summary>
    public void Accepted(int slot, long taskId, string node)
    {
        if (!_slots.TryGetValue(slot, out var tasks)) return;
        var i = tasks.FindIndex(t => t.TaskId == taskId);
        if (i >= 0) tasks[i] = tasks[i] with { Node = node };
    }

    /// <summary>The slot gave the task back (it is stopping): no node holds it now; returns it to be sent again at once.</summary>
    public Assignment? Returned(int slot, long taskId, DateTime now)
    {
        if (!_slots.TryGetValue(slot, out var tasks)) return null;
        var i = tasks.FindIndex(t => t.TaskId == taskId);
        if (i < 0) return null;
        return tasks[i] = tasks[i] with { Node = null, SentAt = now };
    }

    /// <summary>
    /// Removes every task held on a node that left the cluster. A slot works through its tasks in order, so the first of
    /// a slot's tasks on that node was the one in hand (<c>InHand</c>: an attempt used); the others only waited there.
    /// </summary>
    public List<(int Slot, Assignment Assignment, bool InHand)> LostWith(string node)
    {
        var lost = new List<(int, Assignment, bool)>();
        foreach (var (slot, tasks) in _slots)
        {
            var first = true;
            for (var i = 0; i < tasks.Count;)
            {
                if (tasks[i].Node != node)
                {
                    i++;
                    continue;
                }
                lost.Add((slot, tasks[i], first));
                first = false;
                tasks.RemoveAt(i);
                Outstanding--;
            }
        }
        return lost;
    }

    /// <summary>
    /// Tasks to send again now: those no slot acknowledged within <paramref name="unacknowledged"/> (a shard being moved
    /// may drop its buffer when a node dies), and those held for longer than <paramref name="acknowledged"/> without an
    /// answer (the slot then says it is still at it, resends the result it already sent, or takes the task anew). Their
    /// time of sending is set to now.
    /// </summary>
    public List<(int Slot, Assignment Assignment)> Due(DateTime now, TimeSpan unacknowledged, TimeSpan acknowledged)
    {
        var due = new List<(int, Assignment)>();
        foreach (var (slot, tasks) in _slots)
        {
            for (var i = 0; i < tasks.Count; i++)
            {
                var a = tasks[i];
                if (now - a.SentAt <= (a.Node is null ? unacknowledged : acknowledged)) continue;
                due.Add((slot, tasks[i] = a with { SentAt = now }));
            }
        }
        return due;
    }
}
