namespace DeepEM.Pipeline.Arrivals;

/// <summary>What one look at a watched file saw: its length and its modification time.</summary>
public readonly record struct FileLook(string Path, long Length, DateTime ModifiedUtc);

/// <summary>A micrograph that is completely written: when it was first seen, when it was known complete, and how.</summary>
/// <param name="LastChanged">The first look that saw the file as it finally is (for a rename, the rename): within a look of
/// the end of the write, by this process's clock. A user waits from then: the latency of <c>pick --watch</c> counts from it,
/// the settle time included.</param>
public sealed record Arrival(string Path, DateTimeOffset FirstSeen, DateTimeOffset CompleteAt, bool ByRename)
{
    public DateTimeOffset LastChanged { get; init; } = CompleteAt;
}

/// <summary>
/// Decides when a file that appeared in a watched folder is completely written, so that a picker never reads one that a
/// microscope's pipeline or a copy is still writing. Two signals, no others:
/// <list type="bullet">
/// <item>it appeared by a rename into its name within the watched folder (how motion-correction programs and rsync put a
/// finished file in place): complete at once (a file moved in from elsewhere is seen as new, and settles);</item>
/// <item>otherwise, two looks at least <see cref="Settle"/> apart saw the same non-zero length and the same modification
/// time (a copy in progress changes both; only this process's clock is used, so a file server's clock may be off).</item>
/// </list>
/// Pure: the looks and the time come from the caller (the folder watch, or a test). Every path arrives once; paths
/// handed out before (a resumed run) never arrive again, also when they are rewritten.
/// </summary>
public sealed class ArrivalPlanner
{
    private sealed class Candidate(FileLook look, DateTimeOffset now)
    {
        public DateTimeOffset FirstSeen { get; } = now;

        // The look that started the current stretch without change, and when it was made.
        public FileLook Stable { get; set; } = look;

        public DateTimeOffset StableSince { get; set; } = now;
    }

    private readonly Dictionary<string, Candidate> _waiting = new(StringComparer.Ordinal);
    private readonly HashSet<string> _handedOut = new(StringComparer.Ordinal);
    private readonly List<Arrival> _complete = [];

    public ArrivalPlanner(TimeSpan settle, IEnumerable<string>? handedOutBefore = null)
    {
        if (settle <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(settle), "the settle time must be positive");
        Settle = settle;
        if (handedOutBefore is not null) _handedOut.UnionWith(handedOutBefore);
    }

    /// <summary>How long a file must stay unchanged between two looks to count as completely written.</summary>
    public TimeSpan Settle { get; }

    /// <summary>Files seen and not yet complete: the caller looks at these again (a handful, not the whole folder).</summary>
    public IReadOnlyCollection<string> Waiting => _waiting.Keys;

    /// <summary>Every path that has arrived (or was handed out before this planner).</summary>
    public int Arrived => _handedOut.Count;

    /// <summary>This path has arrived already (it is picked, or being picked, and is never handed out again).</summary>
    public bool HasArrived(string path) => _handedOut.Contains(path);

    /// <summary>A listing, an event or a second look saw the file.</summary>
    public void Seen(FileLook look, DateTimeOffset now)
    {
        if (_handedOut.Contains(look.Path)) return;
        if (!_waiting.TryGetValue(look.Path, out var candidate))
        {
            _waiting[look.Path] = new Candidate(look, now);
            return;
        }
        if (look.Length != candidate.Stable.Length || look.ModifiedUtc != candidate.Stable.ModifiedUtc || look.Length == 0)
        {
            // Still being written (or still empty): the stretch without change starts again.
            candidate.Stable = look;
            candidate.StableSince = now;
            return;
        }
        if (now - candidate.StableSince >= Settle) Complete(look.Path, candidate.FirstSeen, now, byRename: false, candidate.StableSince);
    }

    /// <summary>The file appeared by a rename into this name: written elsewhere and put in place whole.</summary>
    public void RenamedIn(FileLook look, DateTimeOffset now)
    {
        if (_handedOut.Contains(look.Path)) return;
        // Even when empty: a file renamed into place is all there will be (an empty one is bad, and the picker says so).
        Complete(look.Path, _waiting.TryGetValue(look.Path, out var candidate) ? candidate.FirstSeen : now, now, byRename: true, now);
    }

    /// <summary>The file went away before it was complete (deleted, or renamed to another name).</summary>
    public void Gone(string path) => _waiting.Remove(path);

    /// <summary>The files complete since the last call, in the order they became complete (first seen, then path, on a tie).</summary>
    public IReadOnlyList<Arrival> TakeComplete()
    {
        if (_complete.Count == 0) return [];
        var taken = _complete.OrderBy(a => a.CompleteAt).ThenBy(a => a.FirstSeen).ThenBy(a => a.Path, StringComparer.Ordinal).ToList();
        _complete.Clear();
        return taken;
    }

    private void Complete(string path, DateTimeOffset firstSeen, DateTimeOffset now, bool byRename, DateTimeOffset lastChanged)
    {
        _waiting.Remove(path);
        _handedOut.Add(path);
        _complete.Add(new Arrival(path, firstSeen, now, byRename) { LastChanged = lastChanged });
    }
}
