using DeepEM.Cluster.Protocol;
using DeepEM.Pipeline.Arrivals;

namespace DeepEM.Cluster.Campaigns;

/// <summary>
/// What the coordinator knows of one campaign: every micrograph open, in flight, being recorded, done, skipped (its
/// picks were already in the output folder) or failed. Built from journal events (<see cref="Apply"/>) and changed only
/// through them, so recovery rebuilds exactly what was there; in-flight work is not journalled and comes back as open.
/// <para>
/// Compact, because a campaign may hold 100,000 micrographs: a micrograph is its index (the order of submission), its
/// state one byte, its name and file name two strings and its folder an index into a short table. Only operations that
/// come by name (a resubmission, events of older versions) use a name → index table, built when first needed.
/// </para>
/// </summary>
internal sealed class CampaignState
{
    private enum Mark : byte
    {
        Open,
        InFlight,
        // A result has arrived and its journal entry is being written: not handed out again, not yet done.
        Recording,
        Done,
        Skipped,
        Failed,
    }

    private readonly List<string> _names = [];
    private readonly List<string> _files = [];
    private readonly List<int> _folderOf = [];
    private readonly List<string> _folders = [];
    // Names as given, only where they are not the path relative to the project folder (few, or none).
    private readonly Dictionary<int, string> _listed = [];
    private readonly Dictionary<string, int> _folderIndex = new(StringComparer.Ordinal);
    private byte[] _marks = [];
    private int[] _particles = [];
    private byte[] _attempts = [];
    // Only for campaigns that pick --watch adds to: when each micrograph arrived (Unix ms) and, once done, its latency.
    private long[]? _arrived;
    private float[]? _latency;
    private (int Version, double Median, double P95, double Max, int Count) _latencySummary = (-1, 0, 0, 0, 0);
    private int _latencyVersion;
    private Dictionary<string, int>? _byName;
    private readonly Dictionary<int, string> _errors = [];
    private readonly Dictionary<string, (int Micrographs, double Seconds)> _nodes = new(StringComparer.Ordinal);
    // Fresh work in submission order (a cursor over the indices); work handed back (a lost node, a transient failure)
    // goes first; micrographs submitted again (failed, or their picks deleted) go after the fresh ones.
    private int _cursor;
    private readonly Queue<int> _retry = new();
    private readonly Queue<int> _again = new();

    public CampaignState(CampaignSpec spec)
    {
        Spec = spec with { Micrographs = [], AlreadyDone = [] };
        // The first list's names are unique (the coordinator checks before it journals): no lookups, no name table yet.
        var already = spec.AlreadyDone.ToHashSet(StringComparer.Ordinal);
        foreach (var m in spec.Micrographs)
        {
            var index = Append(m);
            if (already.Contains(m.Name)) SetMark(index, Mark.Skipped);
        }
    }

    /// <summary>The spec as first submitted (its micrograph list lives in the state itself).</summary>
    public CampaignSpec Spec { get; }

    public string Id => Spec.CampaignId;

    public int Total => _names.Count;

    public int Done { get; private set; }

    public int Skipped { get; private set; }

    public int Failed { get; private set; }

    /// <summary>Handed out, or with a result whose journal entry is being written.</summary>
    public int InFlight { get; private set; }

    public int Pending => Total - Done - Skipped - Failed - InFlight;

    /// <summary>Submitted and not yet settled: open or in flight.</summary>
    public int Backlog => Pending + InFlight;

    public long Particles { get; private set; }

    public long FinishedUnixMs { get; private set; }

    public bool AllSettled => Done + Skipped + Failed == Total;

    public bool Complete => FinishedUnixMs > 0;

    /// <summary><c>pick --watch</c> adds to it: it stays open (never complete) until the watch ends.</summary>
    public bool Watching { get; private set; }

    /// <summary>Micrographs that arrived in watched folders.</summary>
    public int Arrived { get; private set; }

    /// <summary>Complete, and its final index and summary not yet known to be on disk.</summary>
    public bool OutputsPending { get; private set; }

    public MicrographRef this[int index] => new(_names[index], PathOf(index))
    {
        Listed = _listed.GetValueOrDefault(index),
        ArrivedUnixMs = ArrivedAt(index),
    };

    /// <summary>When the micrograph arrived in a watched folder (Unix ms), or 0.</summary>
    public long ArrivedAt(int index) => _arrived is null ? 0 : _arrived[index];

    public string NameOf(int index) => _names[index];

    /// <summary>The index of a micrograph by name, or null for a name this campaign does not hold.</summary>
    public int? IndexOf(string name)
    {
        if (_byName is null)
        {
            _byName = new Dictionary<string, int>(_names.Count, StringComparer.Ordinal);
            for (var i = 0; i < _names.Count; i++) _byName[_names[i]] = i;
        }
        return _byName.TryGetValue(name, out var index) ? index : null;
    }

    /// <summary>A result names this micrograph: the index is in range and the name is the one submitted there.</summary>
    public bool Matches(int index, string name) => index >= 0 && index < _names.Count && _names[index] == name;

    public bool Knows(string name) => IndexOf(name) is not null;

    public bool HasFailed(string name) => IndexOf(name) is { } i && MarkOf(i) == Mark.Failed;

    public bool IsSettled(string name) => IndexOf(name) is { } i && IsSettled(i);

    public bool IsSettled(int index) => MarkOf(index) is Mark.Done or Mark.Skipped or Mark.Failed;

    public bool IsRecording(int index) => MarkOf(index) == Mark.Recording;

    /// <summary>Micrographs whose picks are on disk (picked by this campaign or before it), in submission order.</summary>
    public IEnumerable<MicrographRef> WithPicks
    {
        get
        {
            for (var i = 0; i < _names.Count; i++)
            {
                if (MarkOf(i) is Mark.Done or Mark.Skipped) yield return this[i];
            }
        }
    }

    private Mark MarkOf(int index) => (Mark)_marks[index];

    private void SetMark(int index, Mark mark)
    {
        var old = MarkOf(index);
        if (old == mark) return;
        Count(old, -1);
        Count(mark, +1);
        _marks[index] = (byte)mark;
    }

    private void Count(Mark mark, int delta)
    {
        switch (mark)
        {
            case Mark.InFlight or Mark.Recording: InFlight += delta; break;
            case Mark.Done: Done += delta; break;
            case Mark.Skipped: Skipped += delta; break;
            case Mark.Failed: Failed += delta; break;
        }
    }

    private string PathOf(int index)
    {
        var folder = _folderOf[index];
        return folder < 0 ? _files[index] : _folders[folder] + "/" + _files[index];
    }

    public void Apply(ICampaignEvent e)
    {
        switch (e)
        {
            case MicrographsAdded added:
                Add(added.Micrographs, added.AlreadyDone);
                FinishedUnixMs = AllSettled ? FinishedUnixMs : 0;
                break;
            case MicrographsPicked picked:
                foreach (var m in picked.Micrographs) Picked(m.Index, m.Particles, m.Seconds, m.Node, m.LatencySeconds);
                break;
            case MicrographPicked legacy when IndexOf(legacy.Name) is { } index:
                Picked(index, legacy.Particles, legacy.Seconds, legacy.Node);
                break;
            case MicrographFailed failed when (failed.Index ?? IndexOf(failed.Name)) is { } index && index < Total:
                if (MarkOf(index) is Mark.Done or Mark.Skipped) break;
                SetMark(index, Mark.Failed);
                _errors[index] = failed.Error;
                break;
            case CampaignCompleted completed:
                FinishedUnixMs = completed.FinishedUnixMs;
                OutputsPending = completed.OutputsFollow;
                break;
            case CampaignOutputsWritten:
                OutputsPending = false;
                break;
            case CampaignWatched watched:
                Watching = watched.Watching;
                // Watched again after it completed: open until this watch ends too.
                if (Watching) (FinishedUnixMs, OutputsPending) = (0, false);
                break;
        }
    }

    private void Picked(int index, int particles, double seconds, string node, float latency = 0)
    {
        // A micrograph is done once: a repeated result, or one for a micrograph that failed meanwhile, changes nothing.
        if (index < 0 || index >= Total || IsSettled(index)) return;
        SetMark(index, Mark.Done);
        _particles[index] = particles;
        if (latency > 0)
        {
            EnsureArrivals();
            _latency![index] = latency;
            _latencyVersion++;
        }
        Particles += particles;
        var (m, s) = _nodes.GetValueOrDefault(node);
        _nodes[node] = (m + 1, s + seconds);
    }

    private void Add(IEnumerable<MicrographRef> micrographs, IEnumerable<string> alreadyDone)
    {
        var already = alreadyDone.ToHashSet(StringComparer.Ordinal);
        foreach (var m in micrographs)
        {
            if (IndexOf(m.Name) is { } known)
            {
                // Submitted again: a failed micrograph (the user may have mended the file), or one whose picks are no
                // longer in the output folder (deleted), is picked once more. Open or in-flight ones stay as they are.
                var mark = MarkOf(known);
                if (mark is not (Mark.Failed or Mark.Done or Mark.Skipped)) continue;
                if (mark == Mark.Done) Particles -= _particles[known];
                _particles[known] = 0;
                if (_latency is not null && _latency[known] > 0)
                {
                    _latency[known] = 0;
                    _latencyVersion++;
                }
                // Watched arriving again (its picks were deleted, and it was written anew): its latency counts from now.
                if (m.ArrivedUnixMs != 0) SetArrived(known, m.ArrivedUnixMs);
                _attempts[known] = 0;
                _errors.Remove(known);
                if (already.Contains(m.Name))
                {
                    SetMark(known, Mark.Skipped);
                }
                else
                {
                    SetMark(known, Mark.Open);
                    _again.Enqueue(known);
                }
                continue;
            }
            var index = Append(m);
            if (already.Contains(m.Name)) SetMark(index, Mark.Skipped);
        }
    }

    private int Append(MicrographRef m)
    {
        var index = _names.Count;
        if (index == _marks.Length)
        {
            var capacity = Math.Max(1024, index * 2);
            Array.Resize(ref _marks, capacity);
            Array.Resize(ref _particles, capacity);
            Array.Resize(ref _attempts, capacity);
            if (_arrived is not null)
            {
                Array.Resize(ref _arrived, capacity);
                Array.Resize(ref _latency, capacity);
            }
        }
        _names.Add(m.Name);
        if (m.Listed is not null) _listed[index] = m.Listed;
        var slash = m.Path.LastIndexOf('/');
        if (slash < 0)
        {
            _folderOf.Add(-1);
            _files.Add(m.Path);
        }
        else
        {
            var folder = m.Path[..slash];
            if (!_folderIndex.TryGetValue(folder, out var f))
            {
                _folderIndex[folder] = f = _folders.Count;
                _folders.Add(folder);
            }
            _folderOf.Add(f);
            _files.Add(m.Path[(slash + 1)..]);
        }
        _byName?.Add(m.Name, index);
        if (m.ArrivedUnixMs != 0) SetArrived(index, m.ArrivedUnixMs);
        return index;
    }

    private void EnsureArrivals()
    {
        if (_arrived is not null) return;
        _arrived = new long[_marks.Length];
        _latency = new float[_marks.Length];
    }

    private void SetArrived(int index, long unixMs)
    {
        EnsureArrivals();
        if (_arrived![index] == 0) Arrived++;
        _arrived[index] = unixMs;
    }

    /// <summary>Median, 95th percentile and largest latency of the done micrographs that arrived by watching, and how many.</summary>
    public (double Median, double P95, double Max, int Count) Latency()
    {
        if (_latencySummary.Version == _latencyVersion) return (_latencySummary.Median, _latencySummary.P95, _latencySummary.Max, _latencySummary.Count);
        var values = new List<double>();
        if (_latency is not null)
        {
            for (var i = 0; i < Total; i++)
            {
                if (_latency[i] > 0 && MarkOf(i) == Mark.Done) values.Add(_latency[i]);
            }
        }
        var (median, p95, max) = LatencyFigures.Of(values);
        _latencySummary = (_latencyVersion, median, p95, max, values.Count);
        return (_latencySummary.Median, _latencySummary.P95, _latencySummary.Max, _latencySummary.Count);
    }

    /// <summary>The next micrograph to pick, now in flight; null when nothing is open.</summary>
    public int? TakeNext()
    {
        while (_retry.TryDequeue(out var retry))
        {
            if (TryTake(retry)) return retry;
        }
        for (; _cursor < Total; _cursor++)
        {
            if (TryTake(_cursor)) return _cursor++;
        }
        while (_again.TryDequeue(out var again))
        {
            if (TryTake(again)) return again;
        }
        return null;
    }

    private bool TryTake(int index)
    {
        if (MarkOf(index) != Mark.Open) return false;
        SetMark(index, Mark.InFlight);
        return true;
    }

    /// <summary>
    /// A result arrived for the micrograph: it is held (neither handed out again nor counted open) until its journal entry
    /// is written. False when it is settled already or another result is being recorded: the result is then dropped.
    /// </summary>
    public bool TryRecord(int index)
    {
        if (IsSettled(index) || MarkOf(index) == Mark.Recording) return false;
        SetMark(index, Mark.Recording);
        return true;
    }

    /// <summary>
    /// Work that left with a node (or failed for a reason other than the micrograph): open again, first in line, unless
    /// this was its last attempt (the caller then records it as failed). <paramref name="countAttempt"/> is false for work
    /// that was only waiting on the node, never started there. Returns the attempts used.
    /// </summary>
    public int HandBack(int index, int maxAttempts, bool countAttempt = true)
    {
        if (MarkOf(index) != Mark.InFlight) return _attempts[index];
        SetMark(index, Mark.Open);
        var attempts = countAttempt ? ++_attempts[index] : _attempts[index];
        if (attempts < maxAttempts) _retry.Enqueue(index);
        return attempts;
    }

    public const int MaxFailuresReported = 200;

    public CampaignStatus Status(int pickedSinceRecovery, double coordinatorMs)
    {
        var latency = Latency();
        return new CampaignStatus
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
            Failures = _errors.OrderBy(e => e.Key).Take(MaxFailuresReported).Select(e => new FailedMicrograph(PathOf(e.Key), e.Value)).ToList(),
            PickedSinceRecovery = pickedSinceRecovery,
            CoordinatorMsPerMicrograph = coordinatorMs,
            Watching = Watching,
            Arrived = Arrived,
            LatencyCount = latency.Count,
            LatencyMedianSeconds = latency.Median,
            LatencyP95Seconds = latency.P95,
            LatencyMaxSeconds = latency.Max,
        };
    }

    public CampaignSnapshot ToSnapshot()
    {
        var settled = new byte[Total];
        var particles = new List<int>(Done);
        var latencies = _latency is null ? null : new List<float>(Done);
        for (var i = 0; i < Total; i++)
        {
            settled[i] = (byte)(MarkOf(i) switch
            {
                Mark.Done => Settlement.Done,
                Mark.Skipped => Settlement.Skipped,
                Mark.Failed => Settlement.Failed,
                _ => Settlement.Open,
            });
            if (MarkOf(i) != Mark.Done) continue;
            particles.Add(_particles[i]);
            latencies?.Add(_latency![i]);
        }
        return new CampaignSnapshot(
            Spec with { Micrographs = Enumerable.Range(0, Total).Select(i => this[i]).ToList() },
            settled, particles,
            _errors.OrderBy(e => e.Key).Select(e => (e.Key, e.Value)).ToList(),
            _nodes.Select(n => new NodeThroughput(n.Key, n.Value.Micrographs, n.Value.Seconds)).ToList(),
            FinishedUnixMs)
        {
            Watching = Watching,
            OutputsPending = OutputsPending,
            DoneLatencies = latencies ?? [],
        };
    }

    public static CampaignState FromSnapshot(CampaignSnapshot snapshot)
    {
        var state = new CampaignState(snapshot.Spec with { AlreadyDone = [] });
        if (snapshot.Settled.Length != state.Total)
        {
            throw new InvalidOperationException($"campaign {snapshot.Spec.CampaignId}: the snapshot settles {snapshot.Settled.Length} micrographs of {state.Total}");
        }
        var done = 0;
        for (var i = 0; i < state.Total; i++)
        {
            switch ((Settlement)snapshot.Settled[i])
            {
                case Settlement.Done:
                    state.SetMark(i, Mark.Done);
                    state._particles[i] = snapshot.DoneParticles[done];
                    if (snapshot.DoneLatencies.Count > done && snapshot.DoneLatencies[done] > 0)
                    {
                        state.EnsureArrivals();
                        state._latency![i] = snapshot.DoneLatencies[done];
                        state._latencyVersion++;
                    }
                    done++;
                    state.Particles += state._particles[i];
                    break;
                case Settlement.Skipped:
                    state.SetMark(i, Mark.Skipped);
                    break;
                case Settlement.Failed:
                    state.SetMark(i, Mark.Failed);
                    break;
            }
        }
        foreach (var (index, error) in snapshot.Failures) state._errors[index] = error;
        foreach (var n in snapshot.Nodes) state._nodes[n.Node] = (n.Micrographs, n.BusySeconds);
        state.FinishedUnixMs = snapshot.FinishedUnixMs;
        state.Watching = snapshot.Watching;
        state.OutputsPending = snapshot.OutputsPending;
        return state;
    }
}
