using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using DeepEM.Cluster.Diagnostics;
using DeepEM.Cluster.Protocol;

namespace DeepEM.Cluster.Picking;

/// <summary>
/// One picking slot: a sharded entity on a worker node that holds one micrograph at a time. It acknowledges a
/// task (so the coordinator knows which node holds it), picks it through <see cref="IMicrographPicking"/> off the
/// actor's thread, and sends the picks or the failure to the coordinator. On hand-off (the node leaves, or the
/// slot is moved to another node) it finishes the micrograph in hand before it stops, so a graceful leave loses
/// nothing.
/// </summary>
public sealed class PickSlot : ReceiveActor
{
    private readonly IMicrographPicking _picking;
    private readonly IActorRef _coordinator;
    private readonly string _node;
    private readonly NodeLog _log = new(Context);
    private readonly NodeMetrics _metrics = NodeMetrics.For(Context.System);
    private readonly System.Diagnostics.Stopwatch _watch = new();
    private readonly Queue<(long TaskId, object Result)> _finished = new();
    private PickTask? _queued;
    private readonly CancellationTokenSource _cancel = new();
    private PickTask? _current;
    private bool _stopping;

    private sealed record Finished(PickTask Task, TaskPicked? Picks, Exception? Error) : INoSerializationVerificationNeeded;

    public static Props Props(IMicrographPicking picking, IActorRef coordinator) =>
        Akka.Actor.Props.Create(() => new PickSlot(picking, coordinator));

    public PickSlot(IMicrographPicking picking, IActorRef coordinator)
    {
        _picking = picking;
        _coordinator = coordinator;
        _node = Akka.Cluster.Cluster.Get(Context.System).SelfAddress.ToString();

        Receive<PickTask>(task =>
        {
            if (_current?.TaskId == task.TaskId)
            {
                // Sent again (the acknowledgement was slow, or the coordinator checks on a long task): still at it.
                _coordinator.Tell(new TaskStarted(task.Slot, task.TaskId, _node));
                return;
            }
            foreach (var (taskId, result) in _finished)
            {
                if (taskId != task.TaskId) continue;
                // Finished, but the result may have been lost on the way: send it again rather than pick again.
                _coordinator.Tell(result);
                return;
            }
            // Busy with another task (a coordinator that restarted does not know about it): keep only the newest
            // task, unacknowledged, so the coordinator keeps sending it until this slot really takes it.
            _queued = task;
            StartNext();
        });
        Receive<Finished>(f =>
        {
            _current = null;
            object result = f.Picks ?? (object)(f.Error is BadMicrographException bad
                ? new TaskFailed(f.Task.Slot, f.Task.TaskId, f.Task.CampaignId, f.Task.Micrograph.Name, _node, bad.Message, BadInput: true)
                : new TaskFailed(f.Task.Slot, f.Task.TaskId, f.Task.CampaignId, f.Task.Micrograph.Name, _node, f.Error?.Message ?? "no result", BadInput: false));
            _finished.Enqueue((f.Task.TaskId, result));
            if (_finished.Count > 4) _finished.Dequeue();
            _coordinator.Tell(result);
            Report(f);
            StartNext();
        });
        Receive<StopSlot>(_ =>
        {
            _stopping = true;
            StartNext();
        });
    }

    /// <summary>A line in the node's log and the node's metrics for every micrograph this slot finished.</summary>
    private void Report(Finished f)
    {
        var campaign = f.Task.CampaignId;
        var fields = LogFields.ForCampaign(campaign, f.Task.Micrograph.Name);
        var seconds = _watch.Elapsed.TotalSeconds;
        _metrics.MicrographSeconds.Observe(seconds);
        _metrics.HoldsModel(f.Task.ModelSha256, "picking");
        if (f.Picks is { } picks)
        {
            _metrics.MicrographsPicked.WithLabels(campaign).Inc();
            _metrics.Particles.WithLabels(campaign).Inc(picks.X.Count);
            _log.Info(fields, $"picked {picks.X.Count} particles in {seconds:0.000} s (scoring {picks.ScoringSeconds:0.000} s)");
            return;
        }
        _metrics.MicrographsFailed.WithLabels(campaign).Inc();
        if (f.Error is BadMicrographException bad) _log.Warning(fields, $"bad micrograph: {bad.Message}");
        else _log.Error(fields, $"{f.Task.Micrograph.Path}: {f.Error?.Message ?? "no result"}");
    }

    private void StartNext()
    {
        if (_current is not null) return;
        if (_stopping)
        {
            // A task waiting behind the micrograph in hand was never acknowledged: the coordinator sends it again,
            // and sharding delivers it to this slot's new home.
            Context.Stop(Self);
            return;
        }
        if (_queued is not { } task) return;
        _queued = null;
        _current = task;
        _watch.Restart();
        _coordinator.Tell(new TaskStarted(task.Slot, task.TaskId, _node));
        _picking.PickAsync(task, _node, _cancel.Token).ContinueWith(
            t => new Finished(task, t.IsCompletedSuccessfully ? t.Result : null, t.Exception?.GetBaseException()),
            TaskContinuationOptions.ExecuteSynchronously).PipeTo(Self);
    }

    protected override void PostStop()
    {
        _cancel.Cancel();
        _cancel.Dispose();
        base.PostStop();
    }
}
