using DeepEM.Cluster.Protocol;

namespace DeepEM.Cluster.Campaigns;

/// <summary>
/// What the coordinator knows of one campaign: every micrograph pending, in flight, done, skipped (its picks
/// were already in the output folder) or failed. Built from journal events (<see cref="Apply"/>) and changed
/// only through them, so recovery rebuilds exactly what was there; in-flight work is not journalled and comes
/// back as pending.
/// </summary>
internal sealed class CampaignState
{
    private readonly Dictionary<string, MicrographRef> _micrographs = new(StringComparer.Ordinal);
    private readonly List<string> _order = [];
    // Done micrographs with their particle counts (a micrograph picked again replaces its count).
    private readonly Dictionary<string, int> _done = new(StringComparer.Ordinal);
    private readonly HashSet<string> _skipped = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _failed = new(StringComparer.Ordinal);
    private readonly HashSet<string> _inFlight = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _lost = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (int Micrographs, double Seconds)> _nodes = new(StringComparer.Ordinal);
    // Fresh work in submission order; work handed back (a lost node, a transient failure) goes first.
    private readonly Queue<string> _fresh = new();
    private readonly Queue<string> _retry = new();

    public CampaignState(CampaignSpec spec)
    {
        Spec = spec with { Micrographs = [], AlreadyDone = [] };
        Add(spec.Micrographs, spec.AlreadyDone);
    }

    /// <summary>The spec as first submitted (its micrograph list lives in the state itself).</summary>
    public CampaignSpec Spec { get; }

    public string Id => Spec.CampaignId;

    public int Total => _order.Count;

    public int Done => _done.Count;

    public int Skipped => _skipped.Count;

    public int Failed => _failed.Count;

    public int InFlight => _inFlight.Count;

    public int Pending => Total - Done - Skipped - Failed - InFlight;

    public long Particles => _done.Values.Sum(p => (long)p);

    public long FinishedUnixMs { get; private set; }

    public bool AllSettled => Done + Skipped + Failed == Total;

    public bool Complete => FinishedUnixMs > 0;

    public bool Knows(string name) => _micrographs.ContainsKey(name);

    public bool HasFailed(string name) => _failed.ContainsKey(name);

    public bool IsSettled(string name) => _done.ContainsKey(name) || _skipped.Contains(name) || _failed.ContainsKey(name);

    public IEnumerable<MicrographRef> Micrographs => _order.Select(n => _micrographs[n]);

    /// <summary>Micrographs whose picks are on disk (picked by this campaign or before it), in submission order.</summary>
    public IEnumerable<MicrographRef> WithPicks => _order.Where(n => _done.ContainsKey(n) || _skipped.Contains(n)).Select(n => _micrographs[n]);

    public void Apply(ICampaignEvent e)
    {
        switch (e)
        {
            case MicrographsAdded added:
                Add(added.Micrographs, added.AlreadyDone);
                FinishedUnixMs = AllSettled ? FinishedUnixMs : 0;
                break;
            case MicrographPicked picked:
                _inFlight.Remove(picked.Name);
                if (_done.TryAdd(picked.Name, picked.Particles))
                {
                    var (m, s) = _nodes.GetValueOrDefault(picked.Node);
                    _nodes[picked.Node] = (m + 1, s + picked.Seconds);
                }
                break;
            case MicrographFailed failed:
                _inFlight.Remove(failed.Name);
                _failed[failed.Name] = failed.Error;
                break;
            case CampaignCompleted completed:
                FinishedUnixMs = completed.FinishedUnixMs;
                break;
        }
    }

    private void Add(IEnumerable<MicrographRef> micrographs, IEnumerable<string> alreadyDone)
    {
        var already = alreadyDone.ToHashSet(StringComparer.Ordinal);
        foreach (var m in micrographs)
        {
            if (!_micrographs.TryAdd(m.Name, m))
            {
                // Submitted again: a failed micrograph (the user may have mended the file), or one whose picks are
                // no longer in the output folder (deleted), is picked once more.
                if (_failed.Remove(m.Name) | _done.Remove(m.Name) | _skipped.Remove(m.Name))
                {
                    _lost.Remove(m.Name);
                    if (already.Contains(m.Name)) _skipped.Add(m.Name);
                    else _fresh.Enqueue(m.Name);
                }
                continue;
            }
            _order.Add(m.Name);
            if (already.Contains(m.Name)) _skipped.Add(m.Name);
            else _fresh.Enqueue(m.Name);
        }
    }

    /// <summary>The next micrograph to pick, now in flight; null when nothing is pending.</summary>
    public MicrographRef? TakeNext()
    {
        foreach (var queue in new[] { _retry, _fresh })
        {
            while (queue.TryDequeue(out var name))
            {
                if (IsSettled(name) || _inFlight.Contains(name)) continue;
                _inFlight.Add(name);
                return _micrographs[name];
            }
        }
        return null;
    }

    /// <summary>
    /// Work that left with a node (or failed for a reason other than the micrograph): pending again, first in line,
    /// unless this was its last attempt (the caller then records it as failed). Returns the attempts used.
    /// </summary>
    public int HandBack(string name, int maxAttempts)
    {
        if (!_inFlight.Remove(name)) return _lost.GetValueOrDefault(name);
        var attempts = _lost[name] = _lost.GetValueOrDefault(name) + 1;
        if (attempts < maxAttempts) _retry.Enqueue(name);
        return attempts;
    }

    public const int MaxFailuresReported = 200;

    public CampaignStatus Status(int pickedSinceRecovery, double coordinatorMs) => new()
    {
        CampaignId = Id,
        OutDir = Spec.OutDir,
        Total = Total,
        Done = Done,
        Skipped = Skipped,
        Failed = Failed,
        InFlight = InFlight,
        Pending = Pending,
        Complete = Complete,
        SubmittedUnixMs = Spec.SubmittedUnixMs,
        FinishedUnixMs = FinishedUnixMs,
        Particles = Particles,
        Nodes = _nodes.OrderBy(n => n.Key, StringComparer.Ordinal).Select(n => new NodeThroughput(n.Key, n.Value.Micrographs, n.Value.Seconds)).ToList(),
        // The first failures only: a status must fit in one remoting frame whatever the campaign (Failed counts them all).
        Failures = _order.Where(_failed.ContainsKey).Take(MaxFailuresReported).Select(n => new FailedMicrograph(_micrographs[n].Path, _failed[n])).ToList(),
        PickedSinceRecovery = pickedSinceRecovery,
        CoordinatorMsPerMicrograph = coordinatorMs,
    };

    public CampaignSnapshot ToSnapshot() => new(
        Spec with { Micrographs = _order.Select(n => _micrographs[n]).ToList(), AlreadyDone = _order.Where(_skipped.Contains).ToList() },
        _order.Where(_done.ContainsKey).Select(n => (n, _done[n])).ToList(),
        _order.Where(_failed.ContainsKey).Select(n => new FailedMicrograph(n, _failed[n])).ToList(),
        _nodes.Select(n => new NodeThroughput(n.Key, n.Value.Micrographs, n.Value.Seconds)).ToList(),
        FinishedUnixMs);

    public static CampaignState FromSnapshot(CampaignSnapshot snapshot)
    {
        var state = new CampaignState(snapshot.Spec);
        foreach (var (name, particles) in snapshot.Done) state._done[name] = particles;
        foreach (var f in snapshot.Failed) state._failed[f.Name] = f.Error;
        foreach (var n in snapshot.Nodes) state._nodes[n.Node] = (n.Micrographs, n.BusySeconds);
        state.FinishedUnixMs = snapshot.FinishedUnixMs;
        return state;
    }
}
