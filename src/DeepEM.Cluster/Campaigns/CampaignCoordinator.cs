using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Akka.Persistence;
using DeepEM.Cluster.Diagnostics;
using DeepEM.Cluster.Protocol;

namespace DeepEM.Cluster.Campaigns;

/// <summary>
/// The campaign coordinator: a persistent cluster singleton on the coordinator role. It knows the state of every
/// micrograph of every campaign (journal: Akka.Persistence.Sql), hands micrographs to picking slots through the
/// slot shard region, writes each result once through the campaign's <see cref="ICampaignOutput"/>, and tells
/// followers how it goes.
/// <para>
/// Flow control is by slots: there are <c>slots-per-worker</c> slots per worker node, each holds one micrograph,
/// and a slot gets its next micrograph only when it returns the last one. A node that computes faster returns its
/// slots sooner and so gets more micrographs; nothing queues up unbounded anywhere. Sharding places the slots on
/// worker nodes, rebalances them when nodes join, and moves them when nodes leave or die.
/// </para>
/// <para>
/// Nothing lost: a micrograph in flight on a node that is removed from the cluster goes back to pending and to
/// another slot; a task no slot acknowledged is sent again. Nothing duplicated: a micrograph's picks are written
/// only while it is not yet done; a late or repeated result for a done micrograph is dropped.
/// </para>
/// </summary>
public sealed class CampaignCoordinator : ReceivePersistentActor, IWithTimers
{
    public const string Id = "deepem-campaign-coordinator";

    private readonly CoordinatorSettings _settings;
    private readonly IActorRef _slots;
    private readonly ICampaignOutputFactory _outputs;
    private readonly IModelStore _models;
    private readonly NodeLog _log = new(Context);
    private readonly NodeMetrics _metrics = NodeMetrics.For(Context.System);
    private readonly Dictionary<string, CampaignState> _campaigns = new(StringComparer.Ordinal);
    private readonly List<CampaignState> _byAge = [];
    private readonly Dictionary<string, ICampaignOutput> _openOutputs = new(StringComparer.Ordinal);
    private readonly Dictionary<int, Assignment> _assignments = [];
    private readonly HashSet<Address> _workers = [];
    private readonly Dictionary<string, HashSet<IActorRef>> _followers = new(StringComparer.Ordinal);
    private readonly HashSet<string> _indexDirty = new(StringComparer.Ordinal);
    private readonly HashSet<string> _completing = new(StringComparer.Ordinal);
    // Task ids start from the clock, so a result from a previous incarnation never matches a new assignment.
    private long _nextTaskId = DateTime.UtcNow.Ticks;
    private int _pickedSinceRecovery;
    private double _coordinatorSeconds;
    private int _eventsSinceSnapshot;
    private DateTime _lastIndex = DateTime.UtcNow;

    private sealed record Assignment(long TaskId, string CampaignId, MicrographRef Micrograph, DateTime SentAt, string? Node);

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

    public ITimerScheduler Timers { get; set; } = null!;

    public override string PersistenceId => Id;

    public static Props Props(CoordinatorSettings settings, IActorRef slots, ICampaignOutputFactory outputs, IModelStore models) =>
        Akka.Actor.Props.Create(() => new CampaignCoordinator(settings, slots, outputs, models));

    public CampaignCoordinator(CoordinatorSettings settings, IActorRef slots, ICampaignOutputFactory outputs, IModelStore models)
    {
        _settings = settings;
        _slots = slots;
        _outputs = outputs;
        _models = models;

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
        Command<TaskStarted>(Started);
        Command<TaskPicked>(Picked);
        Command<TaskFailed>(Failed);
        Command<FetchModelChunk>(ServeModel);
        Command<ClusterEvent.MemberUp>(m => WorkerUp(m.Member));
        Command<ClusterEvent.MemberRemoved>(m => WorkerRemoved(m.Member));
        Command<ClusterEvent.IMemberEvent>(_ => { });
        Command<Terminated>(t =>
        {
            foreach (var followers in _followers.Values) followers.Remove(t.ActorRef);
        });
        Command<Tick>(_ => OnTick());
        Command<Stop>(_ => Context.Stop(Self));
        Command<CheckAll>(_ =>
        {
            foreach (var c in _byAge.Where(c => !c.Complete).ToList()) CheckComplete(c);
        });
        Command<SaveSnapshotSuccess>(s => _log.Debug(default, $"snapshot {s.Metadata.SequenceNr} saved"));
        Command<SaveSnapshotFailure>(f => _log.Warning(default, $"snapshot failed: {f.Cause.Message}"));
    }

    private void Recovered()
    {
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.IMemberEvent));
        Timers.StartPeriodicTimer("tick", Tick.Instance, TimeSpan.FromSeconds(1));
        var open = _byAge.Where(c => !c.Complete).ToList();
        _log.Info(default, $"campaign coordinator recovered {_byAge.Count} campaigns ({open.Count} open) at sequence number {LastSequenceNr}{(_settings.ReadOnly ? " (read only)" : "")}");
        // Completing a campaign persists; that waits for the first command rather than running inside recovery.
        if (!_settings.ReadOnly) Self.Tell(CheckAll.Instance);
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

    private void PersistEvent<T>(T e, Action<T> after) where T : ICampaignEvent => Persist(e, persisted =>
    {
        Apply(persisted);
        after(persisted);
        if (++_eventsSinceSnapshot >= _settings.SnapshotEvery)
        {
            _eventsSinceSnapshot = 0;
            SaveSnapshot(new CoordinatorSnapshot(_byAge.Select(c => c.ToSnapshot()).ToList()));
        }
    });

    private ICampaignOutput OutputOf(CampaignState c)
    {
        if (!_openOutputs.TryGetValue(c.Id, out var output))
        {
            _openOutputs[c.Id] = output = _outputs.Open(c.Spec);
        }
        return output;
    }

    private CampaignStatus StatusOf(CampaignState c) =>
        c.Status(_pickedSinceRecovery, _pickedSinceRecovery == 0 ? 0 : 1000 * _coordinatorSeconds / _pickedSinceRecovery);

    private void Submit(SubmitCampaign message)
    {
        var spec = message.Spec;
        var client = Sender;
        if (_settings.ReadOnly)
        {
            client.Tell(new CampaignRejected(spec.CampaignId, "this coordinator only reads its journal (deepem status); submit to a running cluster"));
            return;
        }
        void Follow()
        {
            if (!_followers.TryGetValue(spec.CampaignId, out var followers)) _followers[spec.CampaignId] = followers = [];
            if (followers.Add(client)) Context.Watch(client);
        }
        try
        {
            // Names come over the network and become file names in the output folder: none may lead out of it.
            foreach (var m in spec.Micrographs) NetworkNames.CheckFileName("micrograph name", m.Name);
            var duplicate = spec.Micrographs.GroupBy(m => m.Name).FirstOrDefault(g => g.Count() > 1);
            if (duplicate is not null)
            {
                throw new ArgumentException($"two micrographs share the name '{duplicate.Key}' ({string.Join(", ", duplicate.Select(d => d.Path))}); their picks would overwrite each other");
            }
            if (_campaigns.TryGetValue(spec.CampaignId, out var existing))
            {
                if (existing.Spec.ModelSha256 != spec.ModelSha256)
                {
                    throw new ArgumentException($"{spec.OutDir}: this output folder belongs to a campaign that picks with another model ({existing.Spec.ModelPath}); choose another --out");
                }
                if (!existing.Spec.Settings.SameAs(spec.Settings))
                {
                    // Picks made with two thresholds (or steps, or formats) in one folder would not be one dataset.
                    throw new ArgumentException($"{spec.OutDir}: this output folder belongs to a campaign that picks with other settings (threshold, step, distance, edge, std filter or formats); use the same flags, or another --out");
                }
                // The folder is listed afresh: picks may have been deleted since the campaign last looked.
                var output = _openOutputs[existing.Id] = _outputs.Open(existing.Spec);
                // New micrographs, failed ones (the user may have mended them), and done ones whose picks are gone.
                var added = spec.Micrographs.Where(m => !existing.Knows(m.Name) || existing.HasFailed(m.Name)
                    || (existing.IsSettled(m.Name) && !output.HasPicks(m.Name))).ToList();
                if (added.Count == 0)
                {
                    Follow();
                    client.Tell(Accepted(existing, resumed: true));
                    CheckComplete(existing);
                    return;
                }
                var already = added.Where(m => output.HasPicks(m.Name)).Select(m => m.Name).ToList();
                PersistEvent(new MicrographsAdded(spec.CampaignId, added, already), _ =>
                {
                    _log.Info(LogFields.ForCampaign(spec.CampaignId), $"{added.Count} micrographs added");
                    Follow();
                    client.Tell(Accepted(existing, resumed: true));
                    CheckComplete(existing);
                    Dispatch();
                });
                return;
            }
            _models.Register(spec.ModelPath, spec.ModelSha256);
            var opened = _outputs.Open(spec);
            var alreadyDone = spec.Micrographs.Where(m => opened.HasPicks(m.Name)).Select(m => m.Name).ToList();
            PersistEvent(new CampaignSubmitted(spec with { AlreadyDone = alreadyDone }), _ =>
            {
                var campaign = _campaigns[spec.CampaignId];
                _openOutputs[spec.CampaignId] = opened;
                Follow();
                _log.Info(LogFields.ForCampaign(spec.CampaignId), $"submitted: {campaign.Total} micrographs into {spec.OutDir} ({campaign.Skipped} already picked)");
                client.Tell(Accepted(campaign, resumed: false));
                CheckComplete(campaign);
                Dispatch();
            });
        }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException or Numerics.ModelFile.InvalidModelException)
        {
            client.Tell(new CampaignRejected(spec.CampaignId, e.Message));
        }
    }

    private static CampaignAccepted Accepted(CampaignState c, bool resumed) => new(c.Id, c.Total, c.Done + c.Skipped, c.Failed, resumed, c.Particles);

    private void Follow(FollowCampaign message)
    {
        if (!_campaigns.TryGetValue(message.CampaignId, out var campaign))
        {
            Sender.Tell(new CampaignRejected(message.CampaignId, $"no campaign '{message.CampaignId}' is known to this cluster"));
            return;
        }
        if (!_followers.TryGetValue(message.CampaignId, out var followers))
        {
            _followers[message.CampaignId] = followers = [];
        }
        if (followers.Add(Sender)) Context.Watch(Sender);
        Sender.Tell(StatusOf(campaign));
    }

    private void Notify(string campaignId, object message)
    {
        if (_followers.TryGetValue(campaignId, out var followers))
        {
            foreach (var f in followers) f.Tell(message);
        }
    }

    private void WorkerUp(Member member)
    {
        if (_settings.ReadOnly || !member.HasRole(Roles.Worker) || !_workers.Add(member.Address)) return;
        _log.Info(default, $"worker node {member.Address} is up: {_workers.Count} worker nodes, {_workers.Count * _settings.SlotsPerWorker} slots");
        Dispatch();
    }

    private void WorkerRemoved(Member member)
    {
        if (!member.HasRole(Roles.Worker)) return;
        _workers.Remove(member.Address);
        var node = member.Address.ToString();
        var lost = _assignments.Where(a => a.Value.Node == node).ToList();
        _log.Warning(default, $"worker node {node} was removed ({member.Status}); {lost.Count} micrographs it held go to other nodes");
        foreach (var (slot, assignment) in lost)
        {
            _assignments.Remove(slot);
            HandBack(assignment, $"its worker node {node} was lost");
        }
        Dispatch();
    }

    /// <summary>Work that did not come back: pending again, unless it has used up its attempts.</summary>
    private void HandBack(Assignment assignment, string reason)
    {
        if (!_campaigns.TryGetValue(assignment.CampaignId, out var campaign) || campaign.IsSettled(assignment.Micrograph.Name)) return;
        var attempts = campaign.HandBack(assignment.Micrograph.Name, _settings.MaxAttempts);
        if (attempts >= _settings.MaxAttempts)
        {
            Fail(campaign, assignment.Micrograph.Name, $"{reason} ({attempts} attempts; not tried again)");
        }
    }

    private void Dispatch()
    {
        var target = _workers.Count * _settings.SlotsPerWorker;
        for (var slot = 0; slot < target; slot++)
        {
            if (_assignments.ContainsKey(slot)) continue;
            var next = NextWork();
            if (next is null) return;
            var assignment = new Assignment(++_nextTaskId, next.Value.Campaign.Id, next.Value.Micrograph, DateTime.UtcNow, null);
            _assignments[slot] = assignment;
            Send(slot, assignment);
        }
    }

    private (CampaignState Campaign, MicrographRef Micrograph)? NextWork()
    {
        foreach (var campaign in _byAge)
        {
            if (campaign.Complete) continue;
            if (campaign.TakeNext() is { } micrograph) return (campaign, micrograph);
        }
        return null;
    }

    private void Send(int slot, Assignment a)
    {
        var spec = _campaigns[a.CampaignId].Spec;
        _slots.Tell(new PickTask(slot, a.TaskId, a.CampaignId, a.Micrograph, spec.ModelPath, spec.ModelSha256, spec.ModelLength, spec.Settings));
    }

    /// <summary>Frees the slot if the message answers its current task; a stale answer leaves the slot alone.</summary>
    private Assignment? Release(int slot, long taskId)
    {
        if (!_assignments.TryGetValue(slot, out var current) || current.TaskId != taskId) return null;
        _assignments.Remove(slot);
        return current;
    }

    private void Started(TaskStarted message)
    {
        if (_assignments.TryGetValue(message.Slot, out var current) && current.TaskId == message.TaskId)
        {
            _assignments[message.Slot] = current with { Node = message.Node };
        }
    }

    private void Picked(TaskPicked message)
    {
        Release(message.Slot, message.TaskId);
        if (!_campaigns.TryGetValue(message.CampaignId, out var campaign) || !campaign.Knows(message.Name) || campaign.IsSettled(message.Name))
        {
            _log.Debug(LogFields.ForCampaign(message.CampaignId, message.Name), $"dropped a repeated result from {message.Node}");
            Dispatch();
            return;
        }
        var watch = Stopwatch.StartNew();
        try
        {
            OutputOf(campaign).WritePicks(message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            Fail(campaign, message.Name, $"its picks could not be written: {e.Message}");
            Dispatch();
            return;
        }
        PersistEvent(new MicrographPicked(campaign.Id, message.Name, message.Node, message.X.Count, message.TotalSeconds), _ =>
        {
            _pickedSinceRecovery++;
            _coordinatorSeconds += watch.Elapsed.TotalSeconds;
            _indexDirty.Add(campaign.Id);
            Notify(campaign.Id, new MicrographProgress
            {
                CampaignId = campaign.Id, Name = message.Name, Particles = message.X.Count, Peaks = message.Peaks, RejectedByStd = message.RejectedByStd,
                Positions = message.Positions, ScoringSeconds = message.ScoringSeconds, Node = message.Node,
                Done = campaign.Done + campaign.Skipped, Total = campaign.Total,
            });
            CheckComplete(campaign);
        });
        Dispatch();
    }

    private void Failed(TaskFailed message)
    {
        var assignment = Release(message.Slot, message.TaskId);
        if (_campaigns.TryGetValue(message.CampaignId, out var campaign) && campaign.Knows(message.Name) && !campaign.IsSettled(message.Name))
        {
            if (message.BadInput)
            {
                Fail(campaign, message.Name, message.Error);
            }
            else if (assignment is not null)
            {
                _log.Warning(LogFields.ForCampaign(message.CampaignId, message.Name), $"failed on {message.Node}: {message.Error}; it will be tried again");
                HandBack(assignment, message.Error);
            }
        }
        Dispatch();
    }

    private void Fail(CampaignState campaign, string name, string error)
    {
        PersistEvent(new MicrographFailed(campaign.Id, name, error), _ =>
        {
            Notify(campaign.Id, new MicrographProgress
            {
                CampaignId = campaign.Id, Name = name, Failed = true, Error = error, Done = campaign.Done + campaign.Skipped, Total = campaign.Total,
            });
            CheckComplete(campaign);
        });
    }

    private void CheckComplete(CampaignState campaign)
    {
        if (campaign.Complete || !campaign.AllSettled || campaign.InFlight > 0 || !_completing.Add(campaign.Id)) return;
        PersistEvent(new CampaignCompleted(campaign.Id, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()), _ =>
        {
            _completing.Remove(campaign.Id);
            var status = StatusOf(campaign);
            try
            {
                var output = OutputOf(campaign);
                output.WriteIndex(campaign.WithPicks);
                output.WriteSummary(status);
                _indexDirty.Remove(campaign.Id);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                _log.Error(LogFields.ForCampaign(campaign.Id), $"the index or summary could not be written: {e.Message}");
            }
            _log.Info(LogFields.ForCampaign(campaign.Id), $"complete: {campaign.Done} picked, {campaign.Skipped} already there, {campaign.Failed} failed");
            ReportGauges(campaign);
            Notify(campaign.Id, status);
        });
    }

    private void OnTick()
    {
        var now = DateTime.UtcNow;
        foreach (var (slot, a) in _assignments.ToList())
        {
            if (a.Node is null && now - a.SentAt > _settings.ResendUnacknowledgedAfter)
            {
                _log.Info(LogFields.ForCampaign(a.CampaignId, a.Micrograph.Name), $"slot {slot} did not acknowledge it; sending it again");
                _assignments[slot] = a with { SentAt = now };
                Send(slot, a);
            }
            else if (a.Node is not null && now - a.SentAt > _settings.CheckAcknowledgedAfter)
            {
                // A slot that took a task and is still a member may yet have lost it (its result dropped on a link that
                // failed for a moment, or the slot moved): asking again gets an acknowledgement, the result, or a restart.
                _assignments[slot] = a with { SentAt = now };
                Send(slot, a);
            }
        }
        if (_indexDirty.Count > 0 && now - _lastIndex > _settings.IndexInterval)
        {
            _lastIndex = now;
            foreach (var id in _indexDirty.ToList())
            {
                try
                {
                    var campaign = _campaigns[id];
                    OutputOf(campaign).WriteIndex(campaign.WithPicks);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
                {
                    _log.Warning(LogFields.ForCampaign(id), $"the index could not be written: {e.Message}");
                }
            }
            _indexDirty.Clear();
        }
        foreach (var campaign in _byAge.Where(c => !c.Complete)) ReportGauges(campaign);
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

    private void ServeModel(FetchModelChunk message) =>
        Sender.Tell(Models.BlobChunks.Answer(_models, message, _settings.ModelChunkBytes));
}
