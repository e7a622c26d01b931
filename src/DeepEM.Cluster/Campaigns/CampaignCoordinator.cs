using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Persistence;
using DeepEM.Cluster.Diagnostics;
using DeepEM.Cluster.Internal;
using DeepEM.Cluster.Blobs;
using DeepEM.Cluster.Protocol;

namespace DeepEM.Cluster.Campaigns;

/// <summary>
/// The campaign coordinator: a persistent cluster singleton on the coordinator role. It knows the state of every
/// micrograph of every campaign (journal: Akka.Persistence.Sql), hands micrographs to picking slots through the slot
/// shard region, records what the slots picked, and tells followers how it goes.
/// <para>
/// Its cost per micrograph is kept to bookkeeping, because one coordinator serves the whole cluster: the workers write
/// each micrograph's picks into the campaign's output folder themselves and report only counts; results are journalled
/// together (what arrived while the previous write was under way, as one event per campaign, written without stopping
/// the mailbox); the index and summary are written off this actor's thread; snapshots are compact and at most every
/// <c>snapshot-interval</c>.
/// </para>
/// <para>
/// Flow control is by slots: there are <c>slots-per-worker</c> slots per worker node, each holding at most
/// <c>tasks-per-slot</c> tasks (the one in hand and those waiting), refilled as each answers. A node that computes faster
/// answers sooner and so gets more micrographs; nothing queues up unbounded anywhere. Sharding places the slots on worker
/// nodes, rebalances them when nodes join, and moves them when nodes leave or die.
/// </para>
/// <para>
/// Nothing lost: a micrograph held on a node that is removed from the cluster goes back to open and to another slot; a
/// task no slot acknowledged is sent again. Nothing duplicated: a micrograph is recorded as picked only while it is not
/// yet settled; a late or repeated result is dropped (its files, written again by a worker, are the same bytes).
/// </para>
/// </summary>
internal sealed class CampaignCoordinator : ReceivePersistentActor, IWithTimers
{
    public const string Id = "deepem-campaign-coordinator";

    private readonly CoordinatorSettings _settings;
    private readonly IActorRef _slots;
    private readonly ICampaignOutputFactory _outputs;
    private readonly IBlobStore _models;
    private readonly NodeLog _log = new(Context);
    private readonly NodeMetrics _metrics = NodeMetrics.For(Context.System);
    private readonly Dictionary<string, CampaignState> _campaigns = new(StringComparer.Ordinal);
    private readonly List<CampaignState> _byAge = [];
    private readonly Dictionary<string, ICampaignOutput> _openOutputs = new(StringComparer.Ordinal);
    private readonly SlotBook _book;
    /// <summary>Worker nodes and their picking lanes (GPUs): each lane gets <see cref="CoordinatorSettings.SlotsPerWorker"/> slots.</summary>
    private readonly Dictionary<Address, int> _workers = [];

    private int SlotCount => _workers.Values.Sum() * _settings.SlotsPerWorker;
    private readonly Followers _followers;
    // Results waiting for the next journal write, per campaign.
    private readonly Dictionary<string, List<(TaskPicked Result, float Latency)>> _toRecord = new(StringComparer.Ordinal);
    private bool _recordingUnderWay;
    private int _waitingToRecord;
    private readonly HashSet<string> _indexDirty = new(StringComparer.Ordinal);
    private readonly HashSet<string> _indexWriting = new(StringComparer.Ordinal);
    private readonly HashSet<string> _completing = new(StringComparer.Ordinal);
    // Campaigns that completed while an index of theirs was being written: the final write follows it.
    private readonly HashSet<string> _finalWriteWaiting = new(StringComparer.Ordinal);
    // Complete in the journal, its index and summary not yet on disk: reported as not complete until they are, so that a
    // client that asks (a follower's repeated FollowCampaign, deepem status) never ends before campaign.json is written.
    private readonly HashSet<string> _finalizing = new(StringComparer.Ordinal);
    private static readonly TimeSpan LeftoverClockMargin = TimeSpan.FromSeconds(5);
    // This incarnation: task ids count up from the clock, so a result from a previous incarnation never matches a new
    // assignment, and slots drop the waiting tasks of an older incarnation when they see a newer one.
    private readonly long _epoch = DateTime.UtcNow.Ticks;
    private long _nextTaskId;
    private int _pickedSinceRecovery;
    private long _busyTicks;
    private int _changedSinceSnapshot;
    private DateTime _lastSnapshot = DateTime.UtcNow;
    private bool _snapshotUnderWay;
    private bool _stopping;
    private DateTime _lastIndex = DateTime.UtcNow;
    private readonly Stopwatch _recovery = Stopwatch.StartNew();

    /// <summary>The singleton's termination message on hand-over: unlike a PoisonPill it waits its turn behind a persist.</summary>
    public sealed class Stop : INoSerializationVerificationNeeded
    {
        public static readonly Stop Instance = new();
    }

    private sealed class CheckAll : INoSerializationVerificationNeeded
    {
        public static readonly CheckAll Instance = new();
    }

    private sealed class Tick : INoSerializationVerificationNeeded
    {
        public static readonly Tick Instance = new();
    }

    private sealed class Recorded : INoSerializationVerificationNeeded
    {
        public static readonly Recorded Instance = new();
    }

    private sealed class RecordNow : INoSerializationVerificationNeeded
    {
        public static readonly RecordNow Instance = new();
    }

    private sealed record OutputWritten(string CampaignId, bool Final, string? Error) : INoSerializationVerificationNeeded;

    public ITimerScheduler Timers { get; set; } = null!;

    public override string PersistenceId => Id;

    /// <summary>In full, but for the first incarnation on a journal new to this node, which looks for no snapshot (FreshJournal).</summary>
    public override Recovery Recovery { get; }

    /// <param name="journal">Set where the journal is new to this node: the first incarnation then looks for no snapshot.</param>
    public static Props Props(CoordinatorSettings settings, IActorRef slots, ICampaignOutputFactory outputs, IBlobStore models, FreshJournal? journal = null) =>
        Akka.Actor.Props.Create(() => new CampaignCoordinator(settings, slots, outputs, models, journal));

    public CampaignCoordinator(CoordinatorSettings settings, IActorRef slots, ICampaignOutputFactory outputs, IBlobStore models, FreshJournal? journal)
    {
        Recovery = journal?.TakeFirstRecovery() == true ? new Recovery(SnapshotSelectionCriteria.None) : Recovery.Default;
        _settings = settings;
        _slots = slots;
        _outputs = outputs;
        _models = models;
        _followers = new Followers(Context);
        _book = new SlotBook(settings.TasksPerSlot);
        _nextTaskId = _epoch;

        Recover<SnapshotOffer>(offer =>
        {
            foreach (var c in ((CoordinatorSnapshot)offer.Snapshot).Campaigns) AddCampaign(CampaignState.FromSnapshot(c));
        });
        Recover<ICampaignEvent>(Apply);
        Recover<RecoveryCompleted>(_ => Recovered());

        Command<SubmitCampaign>(Submit);
        Command<GetCampaignStatus>(m => Sender.Tell(new CampaignStatusReport(
            _byAge.Where(c => m.CampaignId.Length == 0 || c.Id == m.CampaignId).Select(StatusOf).ToList())));
        Command<FollowCampaign>(Follow);
        Command<EndWatch>(EndWatch);
        Command<TaskAccepted>(m => Timed(() => _book.Accepted(m.Slot, m.TaskId, m.Node)));
        Command<TaskPicked>(m => Timed(() => Picked(m)));
        Command<TaskFailed>(m => Timed(() => Failed(m)));
        Command<TaskReturned>(m => Timed(() =>
        {
            if (_book.Returned(m.Slot, m.TaskId, DateTime.UtcNow) is { } again) Send(m.Slot, again);
        }));
        Command<FetchBlobChunk>(ServeBlob);
        Command<ClusterEvent.MemberUp>(m => WorkerUp(m.Member));
        Command<ClusterEvent.MemberRemoved>(m => WorkerRemoved(m.Member));
        Command<ClusterEvent.IMemberEvent>(_ => { });
        Command<Terminated>(t => _followers.Remove(t.ActorRef));
        Command<Tick>(_ => OnTick());
        Command<RecordNow>(_ => Timed(RecordWhatArrived));
        Command<OutputWritten>(Written);
        Command<Stop>(_ =>
        {
            // What arrived is recorded first: a hand-over must not drop results whose journal write is under way.
            _stopping = true;
            RecordWhatArrived();
            if (!_recordingUnderWay) Context.Stop(Self);
        });
        Command<CheckAll>(_ =>
        {
            foreach (var c in _byAge.Where(c => !c.Complete).ToList()) CheckComplete(c);
        });
        Command<SaveSnapshotSuccess>(s =>
        {
            _snapshotUnderWay = false;
            _log.Debug(default, $"snapshot {s.Metadata.SequenceNr} saved");
            // One snapshot is enough: the older ones only take space.
            DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1));
        });
        Command<SaveSnapshotFailure>(f =>
        {
            _snapshotUnderWay = false;
            _log.Warning(default, $"snapshot failed: {f.Cause.Message}");
        });
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning(default, $"older snapshots could not be deleted: {f.Cause.Message}"));
    }

    /// <summary>The time this actor spends on the picking path, per micrograph picked, is the coordinator's cost (campaign.json).</summary>
    private void Timed(Action handle)
    {
        var start = Stopwatch.GetTimestamp();
        handle();
        _busyTicks += Stopwatch.GetTimestamp() - start;
    }

    private void Recovered()
    {
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.IMemberEvent));
        Timers.StartPeriodicTimer("tick", Tick.Instance, TimeSpan.FromSeconds(1));
        var open = _byAge.Where(c => !c.Complete).ToList();
        var micrographs = _byAge.Sum(c => (long)c.Total);
        _log.Info(default, $"campaign coordinator recovered {_byAge.Count} campaigns ({open.Count} open, {micrographs} micrographs) at sequence number {LastSequenceNr} in {_recovery.Elapsed.TotalSeconds:0.000} s{(_settings.ReadOnly ? " (read only)" : "")}");
        // Completing a campaign persists; that waits for the first command rather than running inside recovery.
        if (_settings.ReadOnly) return;
        Self.Tell(CheckAll.Instance);
        // Completed, and the incarnation before was stopped before its final index and summary were on disk: now.
        foreach (var c in _byAge.Where(c => c.Complete && c.OutputsPending))
        {
            _finalizing.Add(c.Id);
            WriteOutputs(c, final: true);
        }
    }

    protected override void PostStop()
    {
        Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        base.PostStop();
    }

    private void AddCampaign(CampaignState campaign)
    {
        _campaigns[campaign.Id] = campaign;
        _byAge.Add(campaign);
    }

    private void Apply(ICampaignEvent e)
    {
        if (e is CampaignSubmitted submitted) AddCampaign(new CampaignState(submitted.Spec));
        else if (_campaigns.TryGetValue(e.CampaignId, out var campaign)) campaign.Apply(e);
    }

    private ICampaignOutput OutputOf(CampaignState c)
    {
        if (!_openOutputs.TryGetValue(c.Id, out var output))
        {
            _openOutputs[c.Id] = output = _outputs.Open(c.Spec);
        }
        return output;
    }

    private CampaignStatus StatusOf(CampaignState c)
    {
        var status = c.Status(_pickedSinceRecovery, _pickedSinceRecovery == 0 ? 0 : 1000.0 * _busyTicks / Stopwatch.Frequency / _pickedSinceRecovery);
        return _finalizing.Contains(c.Id) ? status with { Complete = false } : status;
    }

    private void Submit(SubmitCampaign message)
    {
        var spec = message.Spec;
        var client = Sender;
        if (_settings.ReadOnly)
        {
            client.Tell(new CampaignRejected(spec.CampaignId, "this coordinator only reads its journal (deepem status); submit to a running cluster"));
            return;
        }
        try
        {
            // Names come over the network and become file names in the output folder: none may lead out of it.
            Pipeline.Picking.PickOutputs.CheckNames(spec.Micrographs.Select(m => (m.Name, m.Path)));
            if (_campaigns.TryGetValue(spec.CampaignId, out var existing))
            {
                Resubmit(message, existing, client);
                return;
            }
            _models.Register(spec.ModelPath, spec.ModelSha256);
            var opened = _outputs.Open(spec);
            var withPicks = opened.WithPicks(spec.Micrographs.Select(m => m.Name).ToList());
            var alreadyDone = spec.Micrographs.Where(m => withPicks.Contains(m.Name)).Select(m => m.Name).ToList();
            List<ICampaignEvent> events = [new CampaignSubmitted(spec with { AlreadyDone = alreadyDone })];
            if (message.Watch) events.Add(new CampaignWatched(spec.CampaignId, true));
            PersistTogether(events, () =>
            {
                _changedSinceSnapshot += spec.Micrographs.Count;
                var campaign = _campaigns[spec.CampaignId];
                _log.Info(LogFields.ForCampaign(spec.CampaignId), $"submitted: {campaign.Total} micrographs into {spec.OutDir} ({campaign.Skipped} already picked){(message.Watch ? "; watched for more" : "")}");
                Answer(campaign, client, message, resumed: false);
            });
        }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException or Numerics.ModelFile.InvalidModelException)
        {
            client.Tell(new CampaignRejected(spec.CampaignId, e.Message));
        }
    }

    /// <summary>
    /// A known campaign submitted again (the same command run again, a batch of a long list, or what <c>pick --watch</c>
    /// saw arrive): new micrographs, failed ones (the user may have mended them; not when watching, which only adds what
    /// is new, so a damaged file is reported once), and done ones whose picks are gone are picked.
    /// </summary>
    private void Resubmit(SubmitCampaign message, CampaignState existing, IActorRef client)
    {
        var spec = message.Spec;
        if (existing.Spec.ModelSha256 != spec.ModelSha256)
        {
            throw new ArgumentException($"{spec.OutDir}: this output folder belongs to a campaign that picks with another model ({existing.Spec.ModelPath}); choose another --out");
        }
        if (!existing.Spec.PicksLike(spec))
        {
            // Picks made with two thresholds (or steps, or formats) in one folder would not be one dataset.
            throw new ArgumentException($"{spec.OutDir}: this output folder belongs to a campaign that picks with other settings (threshold, step, distance, edge, std filter or formats); use the same flags, or another --out");
        }
        if (existing.Watching && !message.Watch)
        {
            // It would wait for the watch's end, and no one may be there to end it (a watch that was killed).
            throw new ArgumentException($"{spec.OutDir}: pick --watch keeps this campaign open (or did, and was stopped without ending it); run that pick --watch again and end it (Ctrl-C, or touch {Path.Combine(spec.OutDir, "DEEPEM_STOP")}), then pick without --watch");
        }
        // What is on disk is looked up afresh (picks may have been deleted since the campaign last looked), for the names
        // that need it only, and not kept (at 100,000 micrographs a listing is megabytes).
        var output = _outputs.Open(existing.Spec);
        var candidates = spec.Micrographs.Where(m => !existing.Knows(m.Name) || existing.IsSettled(m.Name) && !(message.Watch && existing.HasFailed(m.Name))).ToList();
        var withPicks = output.WithPicks(candidates.Select(m => m.Name).ToList());
        var added = candidates.Where(m => !existing.Knows(m.Name) || existing.HasFailed(m.Name) || !withPicks.Contains(m.Name))
            // Names as given are relative to the project folder of this submission, which the campaign may not share.
            .Select(m => spec.ProjectDir == existing.Spec.ProjectDir ? m : m with { Listed = spec.ListedName(m) }).ToList();
        var events = new List<ICampaignEvent>();
        if (added.Count > 0) events.Add(new MicrographsAdded(spec.CampaignId, added, added.Where(m => withPicks.Contains(m.Name)).Select(m => m.Name).ToList()));
        if (message.Watch && !existing.Watching) events.Add(new CampaignWatched(spec.CampaignId, true));
        if (events.Count == 0)
        {
            Answer(existing, client, message, resumed: true);
            return;
        }
        PersistTogether(events, () =>
        {
            _changedSinceSnapshot += added.Count;
            if (added.Count > 0) _log.Info(LogFields.ForCampaign(spec.CampaignId), $"{added.Count} micrographs added{(existing.Watching ? " (watched arriving)" : "")}");
            Answer(existing, client, message, resumed: true);
        });
    }

    /// <summary>Journals the events together (the actor waits for them), applies each, then runs <paramref name="after"/> once.</summary>
    private void PersistTogether(IReadOnlyList<ICampaignEvent> events, Action after)
    {
        var left = events.Count;
        PersistAll(events, e =>
        {
            Apply(e);
            if (--left == 0) after();
        });
    }

    /// <summary>The submitter follows the campaign and hears it accepted; whatever it added is handed out.</summary>
    private void Answer(CampaignState campaign, IActorRef client, SubmitCampaign message, bool resumed)
    {
        _followers.Add(campaign.Id, client);
        client.Tell(Accepted(campaign, resumed) with { Batch = message.Batch });
        CheckComplete(campaign);
        Dispatch();
    }

    /// <summary><c>pick --watch</c> ended: the campaign completes once what was submitted is settled.</summary>
    private void EndWatch(EndWatch message)
    {
        var client = Sender;
        if (!_campaigns.TryGetValue(message.CampaignId, out var campaign))
        {
            client.Tell(new CampaignRejected(message.CampaignId, $"no campaign '{message.CampaignId}' is known to this cluster"));
            return;
        }
        _followers.Add(campaign.Id, client);
        if (_settings.ReadOnly || !campaign.Watching)
        {
            client.Tell(StatusOf(campaign));
            return;
        }
        Persist(new CampaignWatched(campaign.Id, false), e =>
        {
            Apply(e);
            _changedSinceSnapshot++;
            _log.Info(LogFields.ForCampaign(campaign.Id), $"no longer watched: {campaign.Backlog} micrographs still to settle");
            client.Tell(StatusOf(campaign));
            CheckComplete(campaign);
        });
    }

    private static CampaignAccepted Accepted(CampaignState c, bool resumed) => new(c.Id, c.Total, c.Done + c.Skipped, c.Failed, resumed, c.Particles);

    private void Follow(FollowCampaign message)
    {
        if (!_campaigns.TryGetValue(message.CampaignId, out var campaign))
        {
            Sender.Tell(new CampaignRejected(message.CampaignId, $"no campaign '{message.CampaignId}' is known to this cluster"));
            return;
        }
        _followers.Add(message.CampaignId, Sender);
        Sender.Tell(StatusOf(campaign));
    }

    private void Notify(string campaignId, object message) => _followers.Tell(campaignId, message);

    private void WorkerUp(Member member)
    {
        if (_settings.ReadOnly || !member.HasRole(Roles.Worker) || !_workers.TryAdd(member.Address, Roles.LanesOf(member.Roles))) return;
        var lanes = _workers[member.Address];
        _log.Info(default, $"worker node {member.Address} is up{(lanes > 1 ? $" with {lanes} lanes" : "")}: {_workers.Count} worker nodes, {SlotCount} slots");
        Dispatch();
    }

    private void WorkerRemoved(Member member)
    {
        if (!member.HasRole(Roles.Worker)) return;
        _workers.Remove(member.Address);
        var node = member.Address.ToString();
        var lost = _book.LostWith(node);
        _log.Warning(default, $"worker node {node} was removed ({member.Status}); {lost.Count} micrographs it held go to other nodes");
        foreach (var (_, assignment, inHand) in lost) HandBack(assignment, $"its worker node {node} was lost", inHand);
        Dispatch();
    }

    /// <summary>Work that did not come back: open again, unless it has used up its attempts.</summary>
    private void HandBack(SlotBook.Assignment assignment, string reason, bool countAttempt = true)
    {
        if (!_campaigns.TryGetValue(assignment.CampaignId, out var campaign)) return;
        var attempts = campaign.HandBack(assignment.Index, _settings.MaxAttempts, countAttempt);
        if (countAttempt && attempts >= _settings.MaxAttempts && !campaign.IsSettled(assignment.Index) && !campaign.IsRecording(assignment.Index))
        {
            Fail(campaign, assignment.Index, $"{reason} ({attempts} attempts; not tried again)");
        }
    }

    /// <summary>Fills every slot that has room, as far as there is work.</summary>
    private void Dispatch()
    {
        var target = SlotCount;
        for (var slot = 0; slot < target; slot++)
        {
            if (!Refill(slot)) return;
        }
    }

    /// <summary>Fills one slot up to its window; false when there is no more work.</summary>
    private bool Refill(int slot)
    {
        if (_settings.ReadOnly || _stopping || slot >= SlotCount) return true;
        for (var room = _book.Room(slot); room > 0; room--)
        {
            if (NextWork() is not { } next) return false;
            var assignment = new SlotBook.Assignment(++_nextTaskId, next.Campaign.Id, next.Index, DateTime.UtcNow, null);
            _book.Add(slot, assignment);
            Send(slot, assignment);
        }
        return true;
    }

    private (CampaignState Campaign, int Index)? NextWork()
    {
        foreach (var campaign in _byAge)
        {
            if (campaign.Complete || campaign.Pending == 0) continue;
            if (campaign.TakeNext() is { } index) return (campaign, index);
        }
        return null;
    }

    private void Send(int slot, SlotBook.Assignment a)
    {
        var campaign = _campaigns[a.CampaignId];
        var spec = campaign.Spec;
        _slots.Tell(new PickTask(slot, a.TaskId, _epoch, a.CampaignId, a.Index, campaign[a.Index], spec.OutDir, spec.ModelPath, spec.ModelSha256,
            spec.ModelLength, spec.Settings, spec.Formats));
    }

    private void Picked(TaskPicked message)
    {
        _book.Release(message.Slot, message.TaskId);
        if (!_campaigns.TryGetValue(message.CampaignId, out var campaign) || !campaign.Matches(message.Index, message.Name)
            || !campaign.TryRecord(message.Index))
        {
            _log.Debug(LogFields.ForCampaign(message.CampaignId, message.Name), $"dropped a repeated result from {message.Node}");
        }
        else
        {
            if (!_toRecord.TryGetValue(campaign.Id, out var batch)) _toRecord[campaign.Id] = batch = [];
            // The worker wrote the picks before it said so: from arrival (the watching client's clock; one clock on one
            // machine, NTP's on a cluster) to now is the latency a user of pick --watch waits.
            var arrived = campaign.ArrivedAt(message.Index);
            batch.Add((message, arrived == 0 ? 0 : Math.Max(0.001f, (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - arrived) / 1000f)));
            // Group commit: the first result waits record-interval for others to share its journal write (a write costs
            // the coordinator about a millisecond whatever it holds); a full batch goes at once, and so does a result no
            // other can join (no task is out: the last of a campaign, or of a one-micrograph pick, which waited for nothing).
            if (++_waitingToRecord >= _settings.RecordBatch || _book.Outstanding == 0) RecordWhatArrived();
            else if (!Timers.IsTimerActive("record")) Timers.StartSingleTimer("record", RecordNow.Instance, _settings.RecordInterval);
        }
        Refill(message.Slot);
    }

    /// <summary>
    /// Journals every result that arrived since the last write, one event per campaign (group commit), unless a write is
    /// under way: then they wait for it. PersistAllAsync keeps the mailbox open while the database writes.
    /// </summary>
    private void RecordWhatArrived()
    {
        if (_recordingUnderWay || _toRecord.Count == 0) return;
        _recordingUnderWay = true;
        _waitingToRecord = 0;
        Timers.Cancel("record");
        var events = new List<MicrographsPicked>();
        var messages = new List<IReadOnlyList<(TaskPicked Result, float Latency)>>();
        foreach (var (id, results) in _toRecord)
        {
            foreach (var chunk in results.Chunk(_settings.RecordBatch))
            {
                events.Add(new MicrographsPicked(id, chunk.Select(r => new PickedMicrograph(r.Result.Index, r.Result.Particles, (float)r.Result.TotalSeconds, r.Result.Node, r.Latency)).ToList()));
                messages.Add(chunk);
            }
        }
        _toRecord.Clear();
        var next = 0;
        PersistAllAsync(events, e => Timed(() =>
        {
            var recorded = messages[next++];
            var results = recorded.Select(r => r.Result).ToList();
            Apply(e);
            foreach (var (_, latency) in recorded)
            {
                if (latency > 0) _metrics.PickLatencySeconds.WithLabels(e.CampaignId).Observe(latency);
            }
            var campaign = _campaigns[e.CampaignId];
            _pickedSinceRecovery += results.Count;
            _changedSinceSnapshot += results.Count;
            _indexDirty.Add(campaign.Id);
            var done = campaign.Done + campaign.Skipped;
            Notify(campaign.Id, new MicrographProgressBatch(results.Select(r => new MicrographProgress
            {
                CampaignId = campaign.Id, Name = r.Name, Particles = r.Particles, Peaks = r.Peaks, RejectedByStd = r.RejectedByStd,
                Positions = r.Positions, ScoringSeconds = r.ScoringSeconds, Node = r.Node, Done = done, Total = campaign.Total,
            }).ToList()));
            CheckComplete(campaign);
        }));
        DeferAsync(Recorded.Instance, _ =>
        {
            _recordingUnderWay = false;
            if (_stopping)
            {
                Context.Stop(Self);
                return;
            }
            MaybeSnapshot();
            // What arrived during the write is recorded when its timer fires, or now if it has fired already.
            if (!Timers.IsTimerActive("record")) RecordWhatArrived();
        });
    }

    private void Failed(TaskFailed message)
    {
        var assignment = _book.Release(message.Slot, message.TaskId);
        if (_campaigns.TryGetValue(message.CampaignId, out var campaign) && campaign.Matches(message.Index, message.Name)
            && !campaign.IsSettled(message.Index) && !campaign.IsRecording(message.Index))
        {
            if (message.BadInput)
            {
                Fail(campaign, message.Index, message.Error);
            }
            else if (assignment is not null)
            {
                _log.Warning(LogFields.ForCampaign(message.CampaignId, message.Name), $"failed on {message.Node}: {message.Error}; it will be tried again");
                HandBack(assignment, message.Error);
            }
        }
        Refill(message.Slot);
    }

    private void Fail(CampaignState campaign, int index, string error)
    {
        var name = campaign.NameOf(index);
        PersistAsync(new MicrographFailed(campaign.Id, name, error, index), e =>
        {
            Apply(e);
            _changedSinceSnapshot++;
            Notify(campaign.Id, new MicrographProgress
            {
                CampaignId = campaign.Id, Name = name, Failed = true, Error = error, Done = campaign.Done + campaign.Skipped, Total = campaign.Total,
            });
            CheckComplete(campaign);
        });
    }

    private void CheckComplete(CampaignState campaign)
    {
        // A watched campaign stays open however much of it is settled: more micrographs are on their way.
        if (campaign.Complete || campaign.Watching || !campaign.AllSettled || campaign.InFlight > 0 || !_completing.Add(campaign.Id)) return;
        PersistAsync(new CampaignCompleted(campaign.Id, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()) { OutputsFollow = true }, e =>
        {
            Apply(e);
            _completing.Remove(campaign.Id);
            _finalizing.Add(campaign.Id);
            _log.Info(LogFields.ForCampaign(campaign.Id), $"complete: {campaign.Done} picked, {campaign.Skipped} already there, {campaign.Failed} failed");
            ReportGauges(campaign);
            // Followers hear of the end once the index and summary are on disk.
            WriteOutputs(campaign, final: true);
        });
    }

    /// <summary>
    /// Writes the campaign's index (and, at the end, its summary) on the thread pool: at 100,000 micrographs an index is
    /// megabytes. One write per campaign at a time; a campaign that changes meanwhile is written again at the next tick.
    /// </summary>
    private void WriteOutputs(CampaignState campaign, bool final)
    {
        if (!_indexWriting.Add(campaign.Id))
        {
            if (final) _finalWriteWaiting.Add(campaign.Id);
            return;
        }
        _indexDirty.Remove(campaign.Id);
        ICampaignOutput output;
        try
        {
            output = OutputOf(campaign);
        }
        catch (ArgumentException e)
        {
            Self.Tell(new OutputWritten(campaign.Id, final, e.Message));
            return;
        }
        var withPicks = campaign.WithPicks.ToList();
        // A watched campaign's summary is kept current too: arrivals, backlog and latency while it runs.
        var status = final || campaign.Watching ? StatusOf(campaign) : null;
        // The campaign is over: what a worker killed mid-write left of its files (the state holds the names, not the spec),
        // written before now (a micrograph submitted again after this has a live writer). A few seconds' margin for the
        // clock of a file server that stamps the times.
        var names = final ? Enumerable.Range(0, campaign.Total).Select(campaign.NameOf).ToList() : null;
        var overAt = DateTime.UtcNow - LeftoverClockMargin;
        var id = campaign.Id;
        Task.Run(() =>
        {
            try
            {
                output.WriteIndex(withPicks);
                if (status is not null) output.WriteSummary(status);
                if (names is not null)
                {
                    try
                    {
                        output.RemoveLeftovers(names, overAt);
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        return new OutputWritten(id, final, $"temporary files left by killed writers could not be cleared ({e.Message})");
                    }
                }
                return new OutputWritten(id, final, null);
            }
            catch (Exception e)
            {
                // Whatever went wrong, the coordinator hears of it: a campaign must not wait for ever on its final write.
                return new OutputWritten(id, final, e.Message);
            }
        }).PipeTo(Self);
    }

    private void Written(OutputWritten written)
    {
        _indexWriting.Remove(written.CampaignId);
        if (!_campaigns.TryGetValue(written.CampaignId, out var campaign)) return;
        if (written.Error is { } error)
        {
            _log.Error(LogFields.ForCampaign(campaign.Id), $"{(written.Final ? "the final outputs (index, summary, leftovers)" : "the index")}: {error}");
        }
        if (_finalWriteWaiting.Remove(campaign.Id))
        {
            // The campaign completed (again, when a watch reopened it) while an earlier write was under way: now the final one.
            WriteOutputs(campaign, final: true);
            return;
        }
        if (written.Final && _finalizing.Remove(campaign.Id))
        {
            // On disk: journalled, so that a coordinator recovering the campaign does not write them again. A write that
            // failed is not: the next incarnation tries again.
            if (written.Error is null && campaign.Complete) PersistAsync(new CampaignOutputsWritten(campaign.Id), Apply);
            Notify(campaign.Id, StatusOf(campaign));
        }
    }

    private void OnTick()
    {
        var now = DateTime.UtcNow;
        foreach (var (slot, a) in _book.Due(now, _settings.ResendUnacknowledgedAfter, _settings.CheckAcknowledgedAfter))
        {
            // Unacknowledged: the task may have been lost with a shard on the move. Acknowledged long ago: the slot that
            // took it may yet have lost it (its result dropped on a link that failed for a moment, or the slot moved);
            // asking again gets an acknowledgement, the result, or a restart.
            if (a.Node is null) _log.Info(LogFields.ForCampaign(a.CampaignId, _campaigns[a.CampaignId].NameOf(a.Index)), $"slot {slot} did not acknowledge it; sending it again");
            Send(slot, a);
        }
        if (_indexDirty.Count > 0 && now - _lastIndex > _settings.IndexInterval)
        {
            _lastIndex = now;
            foreach (var id in _indexDirty.ToList()) WriteOutputs(_campaigns[id], final: false);
        }
        MaybeSnapshot();
        foreach (var campaign in _byAge.Where(c => !c.Complete)) ReportGauges(campaign);
    }

    /// <summary>A snapshot once enough changed since the last one, and not more often than <c>snapshot-interval</c>.</summary>
    private void MaybeSnapshot()
    {
        if (_settings.ReadOnly || _snapshotUnderWay || _changedSinceSnapshot < _settings.SnapshotAfter) return;
        var now = DateTime.UtcNow;
        if (now - _lastSnapshot < _settings.SnapshotInterval) return;
        _snapshotUnderWay = true;
        _changedSinceSnapshot = 0;
        _lastSnapshot = now;
        SaveSnapshot(new CoordinatorSnapshot(_byAge.Select(c => c.ToSnapshot()).ToList()));
    }

    /// <summary>The campaign's queue for Prometheus (each second, and once more when it completes).</summary>
    private void ReportGauges(CampaignState campaign)
    {
        if (_settings.ReadOnly) return;
        _metrics.QueueDepth.WithLabels(campaign.Id).Set(campaign.Pending);
        _metrics.InFlight.WithLabels(campaign.Id).Set(campaign.InFlight);
        _metrics.CampaignDone.WithLabels(campaign.Id).Set(campaign.Done + campaign.Skipped + campaign.Failed);
        _metrics.CampaignTotal.WithLabels(campaign.Id).Set(campaign.Total);
    }

    private void ServeBlob(FetchBlobChunk message) =>
        Sender.Tell(Blobs.BlobChunks.Answer(_models, message, _settings.ModelChunkBytes));
}
