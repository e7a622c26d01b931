namespace DeepEM.Cluster.Internal;

/// <summary>
/// A journal that did not exist when this node started (a new SQLite file in its state folder), so its first recovery
/// can find no snapshot. That first recovery may skip asking the snapshot store: on a new journal, building and running
/// the snapshot query was a large part of the campaign coordinator's recovery, on the path of every new embedded pick
/// (docs/benchmarks.md). Only once: any later incarnation (a restart, a hand-over back) may follow snapshots saved
/// since, and recovers in full.
/// </summary>
internal sealed class FreshJournal
{
    private int _taken;

    /// <summary>True for the first caller only, and only for a journal that was new.</summary>
    public bool TakeFirstRecovery() => Interlocked.Exchange(ref _taken, 1) == 0;

    /// <summary>A journal that may hold anything: every recovery is in full.</summary>
    public static FreshJournal? Unknown => null;
}
