using Akka.Actor;
using DeepEM.Cluster.Diagnostics;
using DeepEM.Cluster.Protocol;
using DeepEM.Pipeline.Picking;

namespace DeepEM.Cluster.Picking;

/// <summary>
/// One picking slot: a sharded entity on a worker node that works through its tasks one at a time, in the order they
/// came. It acknowledges each task on arrival (so the coordinator knows which node holds it), picks it through
/// <see cref="IMicrographPicking"/> and writes its files through <see cref="IPickWriter"/> off the actor's thread, and
/// reports the counts or the failure to the coordinator. The coordinator keeps a few tasks waiting here, so the next one
/// starts as soon as one ends. On hand-off (the node leaves, or the slot is moved to another node) it finishes the
/// micrograph in hand and gives the waiting ones back, so a graceful leave loses nothing.
/// </summary>
internal sealed class PickSlot : ReceiveActor
{
    private readonly IMicrographPicking _picking;
    private readonly IPickWriter _writer;
    private readonly IActorRef _coordinator;
    private readonly string _node;
    private readonly NodeLog _log = new(Context);
    private readonly NodeMetrics _metrics = NodeMetrics.For(Context.System);
    private readonly System.Diagnostics.Stopwatch _watch = new();
    private readonly Queue<(long TaskId, object Result)> _finished = new();
    private readonly List<PickTask> _waiting = [];
    private readonly CancellationTokenSource _cancel = new();
    private PickTask? _current;
    // The newest coordinator incarnation seen: tasks waiting from an older one are dropped (it has restarted and hands
    // the same micrographs out again).
    private long _epoch;
    private bool _stopping;

    private sealed record Finished(PickTask Task, PickOutcome? Outcome, Exception? Error, bool Adopted = false) : INoSerializationVerificationNeeded;

    public static Props Props(IMicrographPicking picking, IPickWriter writer, IActorRef coordinator) =>
        Akka.Actor.Props.Create(() => new PickSlot(picking, writer, coordinator));

    public PickSlot(IMicrographPicking picking, IPickWriter writer, IActorRef coordinator)
    {
        _picking = picking;
        _writer = writer;
        _coordinator = coordinator;
        _node = Akka.Cluster.Cluster.Get(Context.System).SelfAddress.ToString();

        Receive<PickTask>(Take);
        Receive<Finished>(f =>
        {
            _current = null;
            object result = f.Outcome?.Picks is { } picks
                ? new TaskPicked
                {
                    Slot = f.Task.Slot, TaskId = f.Task.TaskId, CampaignId = f.Task.CampaignId, Index = f.Task.Index, Name = f.Task.Micrograph.Name,
                    Node = _node, Particles = picks.Picks.Count, Peaks = picks.Peaks, RejectedByStd = picks.RejectedByStd, Positions = picks.Positions,
                    ScoringSeconds = picks.ScoringTime.TotalSeconds, TotalSeconds = _watch.Elapsed.TotalSeconds,
                }
                : new TaskFailed(f.Task.Slot, f.Task.TaskId, f.Task.CampaignId, f.Task.Index, f.Task.Micrograph.Name, _node,
                    f.Error?.Message ?? "no result", BadInput: f.Error is BadMicrographException);
            _finished.Enqueue((f.Task.TaskId, result));
            while (_finished.Count > 8) _finished.Dequeue();
            _coordinator.Tell(result);
            Report(f);
            StartNext();
        });
        Receive<StopSlot>(_ =>
        {
            _stopping = true;
            // Waiting tasks were acknowledged: give them back, so the coordinator sends them again at once and sharding
            // delivers them to this slot's new home.
            foreach (var task in _waiting) _coordinator.Tell(new TaskReturned(task.Slot, task.TaskId));
            _waiting.Clear();
            StartNext();
        });
    }

    private void Take(PickTask task)
    {
        if (task.Epoch < _epoch) return;
        if (task.Epoch > _epoch)
        {
            _epoch = task.Epoch;
            _waiting.RemoveAll(t => t.Epoch < _epoch);
        }
        if (_current?.TaskId == task.TaskId || _waiting.Any(t => t.TaskId == task.TaskId))
        {
            // Sent again (the acknowledgement was slow, or the coordinator checks on a long task): still here.
            _coordinator.Tell(new TaskAccepted(task.Slot, task.TaskId, _node));
            return;
        }
        foreach (var (taskId, result) in _finished)
        {
            if (taskId != task.TaskId) continue;
            // Finished, but the result may have been lost on the way: send it again rather than pick again.
            _coordinator.Tell(result);
            return;
        }
        if (_stopping)
        {
            _coordinator.Tell(new TaskReturned(task.Slot, task.TaskId));
            return;
        }
        _waiting.Add(task);
        _coordinator.Tell(new TaskAccepted(task.Slot, task.TaskId, _node));
        _picking.Queued(task, _node);
        StartNext();
    }

    /// <summary>A line in the node's log and the node's metrics for every micrograph this slot finished.</summary>
    private void Report(Finished f)
    {
        var campaign = f.Task.CampaignId;
        var seconds = _watch.Elapsed.TotalSeconds;
        _metrics.MicrographSeconds.Observe(seconds);
        _metrics.HoldsModel(f.Task.ModelSha256, "picking");
        if (f.Outcome?.Picks is { } picks)
        {
            _metrics.MicrographsPicked.WithLabels(campaign).Inc();
            _metrics.Particles.WithLabels(campaign).Inc(picks.Picks.Count);
            var fieldsPicked = LogFields.ForCampaign(campaign, f.Task.Micrograph.Name);
            if (f.Adopted) _log.Info(fieldsPicked, $"{picks.Picks.Count} particles already written (picked before a restart), not picked again");
            else if (f.Outcome.Ahead) _log.Info(fieldsPicked, $"picked {picks.Picks.Count} particles ahead, while the node started (scoring {picks.ScoringTime.TotalSeconds:0.000} s); written in {seconds:0.000} s");
            else _log.Info(fieldsPicked, $"picked {picks.Picks.Count} particles in {seconds:0.000} s (scoring {picks.ScoringTime.TotalSeconds:0.000} s)");
            return;
        }
        _metrics.MicrographsFailed.WithLabels(campaign).Inc();
        var fields = LogFields.ForCampaign(campaign, f.Task.Micrograph.Name);
        if (f.Error is BadMicrographException bad) _log.Warning(fields, $"bad micrograph: {bad.Message}");
        else _log.Error(fields, $"{f.Task.Micrograph.Path}: {f.Error?.Message ?? "no result"}");
    }

    private void StartNext()
    {
        if (_current is not null) return;
        if (_stopping)
        {
            Context.Stop(Self);
            return;
        }
        if (_waiting.Count == 0) return;
        var task = _current = _waiting[0];
        _waiting.RemoveAt(0);
        _watch.Restart();
        PickAndWrite(task).PipeTo(Self);
    }

    private async Task<Finished> PickAndWrite(PickTask task)
    {
        try
        {
            // Its files are there already: picked before a crash that came between writing them and the coordinator's journal.
            // The picks on disk are the result; picking again would write them a second time.
            if (await _writer.WrittenAsync(task) is { } written)
            {
                return new Finished(task, new PickOutcome(new MicrographPicks(task.Micrograph.Name, written, written.Count, 0, 0, TimeSpan.Zero), 0), null, Adopted: true);
            }
            var outcome = await _picking.PickAsync(task, _node, _cancel.Token);
            // The worker writes the files: the coordinator, which serves the whole cluster, only records that it happened.
            await _writer.WriteAsync(task, outcome);
            return new Finished(task, outcome, null);
        }
        catch (Exception e)
        {
            return new Finished(task, null, e);
        }
    }

    protected override void PostStop()
    {
        _cancel.Cancel();
        _cancel.Dispose();
        base.PostStop();
    }
}
