using Akka.Actor;
using DeepEM.Cluster.Nodes;
using DeepEM.Cluster.Protocol;

namespace DeepEM.Cluster.Clients;

/// <summary>
/// What <c>pick --watch</c> has seen arrive, for the campaign it keeps open: the folder watch adds micrographs as they
/// become complete, and the client submits them in order, each batch until the coordinator acknowledges it. Outlives the
/// client member (a client the cluster removed joins again and goes on from the first unacknowledged micrograph).
/// Thread-safe: the folder watch adds on its loop, the client's actor takes on its own.
/// </summary>
public sealed class WatchFeed
{
    private readonly object _gate = new();
    private readonly List<MicrographRef> _arrived = [];
    private Action? _changed;

    /// <summary>Micrographs the coordinator has acknowledged (journalled as part of the campaign).</summary>
    public int Acknowledged { get; private set; }

    /// <summary>Micrographs added so far.</summary>
    public int Count
    {
        get
        {
            lock (_gate) return _arrived.Count;
        }
    }

    /// <summary>The watch is over: once everything is acknowledged, the campaign is told so and completes.</summary>
    public bool Ending { get; private set; }

    public void Add(IReadOnlyList<MicrographRef> micrographs)
    {
        if (micrographs.Count == 0) return;
        Action? changed;
        lock (_gate)
        {
            if (Ending) throw new InvalidOperationException("the watch has ended");
            _arrived.AddRange(micrographs);
            changed = _changed;
        }
        changed?.Invoke();
    }

    public void End()
    {
        Action? changed;
        lock (_gate)
        {
            Ending = true;
            changed = _changed;
        }
        changed?.Invoke();
    }

    internal void OnChange(Action? changed)
    {
        lock (_gate) _changed = changed;
    }

    /// <summary>The next micrographs to submit (at most <paramref name="max"/>, from the first unacknowledged one), and where they end.</summary>
    internal (IReadOnlyList<MicrographRef> Batch, int Upto) Next(int max)
    {
        lock (_gate)
        {
            var count = Math.Min(max, _arrived.Count - Acknowledged);
            return (_arrived.GetRange(Acknowledged, count), Acknowledged + count);
        }
    }

    internal void Acknowledge(int upto)
    {
        lock (_gate) Acknowledged = Math.Max(Acknowledged, upto);
    }
}

/// <summary>
/// Keeps a campaign open while <c>pick --watch</c> adds what arrives (<see cref="WatchFeed"/>), follows it, and once the
/// feed ends tells the coordinator (<see cref="EndWatch"/>) and waits for the campaign to complete.
/// </summary>
public static class CampaignWatch
{
    /// <summary>
    /// Starts a member with <paramref name="options"/>, submits the campaign (its micrographs given at the start, then
    /// the feed's) as watched, and follows it until the feed has ended and the campaign is complete; joins again if the
    /// cluster removes the member. The outcome's acceptance is the first one.
    /// </summary>
    public static async Task<CampaignOutcome> RunAsMemberAsync(NodeOptions options, CampaignSpec spec, WatchFeed feed, Action<CampaignAccepted> accepted,
        Action<MicrographProgress> progress, Action<CampaignStatus> status, Action<string> notice, int rejoins, Action<int>? rejoining = null,
        CancellationToken cancel = default)
    {
        CampaignAccepted? first = null;
        return await ClientMembership.RunAsync(options, async node =>
        {
            var done = new TaskCompletionSource<CampaignOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
            Action<CampaignAccepted> onAccepted = a =>
            {
                first ??= a;
                accepted(a);
            };
            var watcher = node.System.ActorOf(Props.Create(() => new Watcher(node.Coordinator, spec, feed, onAccepted, progress, status, notice, done)));
            await using var registration = cancel.Register(() => done.TrySetCanceled());
            _ = node.System.WhenTerminated.ContinueWith(_ => done.TrySetException(new ClientRemovedException(spec.CampaignId)), TaskScheduler.Default);
            try
            {
                var outcome = await done.Task;
                return outcome with { Accepted = first ?? outcome.Accepted };
            }
            finally
            {
                feed.OnChange(null);
                node.System.Stop(watcher);
            }
        }, rejoins, rejoining, null, cancel);
    }

    private sealed class Watcher : ReceiveActor, IWithTimers
    {
        private sealed class Again : INoSerializationVerificationNeeded
        {
            public static readonly Again Instance = new();
        }

        private sealed class Changed : INoSerializationVerificationNeeded
        {
            public static readonly Changed Instance = new();
        }

        private readonly IActorRef _coordinator;
        private readonly CampaignSpec _spec;
        private readonly WatchFeed _feed;
        private CampaignAccepted? _accepted;
        // The submission waiting for its acknowledgement (sent again until it comes), and where in the feed it ends.
        private (SubmitCampaign Message, int Upto)? _outstanding;
        private long _batch;
        private bool _endSent;
        private string? _lastRefusal;

        public ITimerScheduler Timers { get; set; } = null!;

        public Watcher(IActorRef coordinator, CampaignSpec spec, WatchFeed feed, Action<CampaignAccepted> onAccepted, Action<MicrographProgress> progress,
            Action<CampaignStatus> status, Action<string> notice, TaskCompletionSource<CampaignOutcome> done)
        {
            _coordinator = coordinator;
            _spec = spec;
            _feed = feed;
            Timers.StartPeriodicTimer("again", Again.Instance, TimeSpan.FromSeconds(3));
            var self = Self;
            feed.OnChange(() => self.Tell(Changed.Instance));
            // The first submission carries the micrographs given at the start (files named on the command line); a
            // campaign of tens of thousands goes in parts as the feed's do.
            Submit(spec with { Micrographs = spec.Micrographs.Take(CampaignClient.BatchSize).ToList() }, upto: 0);
            var given = spec.Micrographs.Skip(CampaignClient.BatchSize).ToList();
            Receive<Again>(_ =>
            {
                if (_outstanding is { } o) _coordinator.Tell(o.Message);
                else if (_endSent) _coordinator.Tell(new EndWatch(_spec.CampaignId));
                else _coordinator.Tell(new FollowCampaign(_spec.CampaignId));
            });
            Receive<Changed>(_ => SendNext(given));
            Receive<CampaignAccepted>(a =>
            {
                if (a.Batch == 0)
                {
                    // Only a coordinator of a version before pick --watch leaves the number out: it would complete the campaign
                    // under the watch, and never hear its end.
                    done.TrySetException(new CampaignRejectedException(
                        $"{_spec.OutDir}: the cluster's campaign coordinator is of a version without pick --watch (it does not number submissions); run this version's coordinator, or pick without --watch"));
                    return;
                }
                if (_outstanding is not { } o || a.Batch != o.Message.Batch) return;
                _outstanding = null;
                _lastRefusal = null;
                _feed.Acknowledge(o.Upto);
                if (_accepted is null)
                {
                    _accepted = a;
                    onAccepted(a);
                }
                SendNext(given);
            });
            Receive<CampaignRejected>(r =>
            {
                // Before the campaign is accepted a rejection is final (another model, other flags). After it, a batch can
                // be refused for a moment (the output folder unreadable on a file server's hiccup): said once, sent again.
                if (_accepted is null) done.TrySetException(new CampaignRejectedException(r.Reason));
                else if (r.Reason != _lastRefusal) notice(_lastRefusal = r.Reason);
            });
            var once = new ProgressOnce(progress);
            Receive<MicrographProgress>(once.Hear);
            Receive<MicrographProgressBatch>(once.Hear);
            Receive<CampaignStatus>(s =>
            {
                status(s);
                if (_accepted is not null && _endSent && s.Complete) done.TrySetResult(new CampaignOutcome(_accepted, s));
            });
        }

        private void Submit(CampaignSpec spec, int upto)
        {
            var message = new SubmitCampaign(spec, Watch: true, Batch: ++_batch);
            _outstanding = (message, upto);
            _coordinator.Tell(message);
        }

        /// <summary>One submission at a time, in the order of arrival; the end once everything is acknowledged.</summary>
        private void SendNext(List<MicrographRef> given)
        {
            if (_outstanding is not null || _accepted is null) return;
            if (given.Count > 0)
            {
                var part = given.Take(CampaignClient.BatchSize).ToList();
                given.RemoveRange(0, part.Count);
                Submit(_spec with { Micrographs = part }, _feed.Acknowledged);
                return;
            }
            var (batch, upto) = _feed.Next(CampaignClient.BatchSize);
            if (batch.Count > 0)
            {
                Submit(_spec with { Micrographs = batch }, upto);
                return;
            }
            if (_feed.Ending && !_endSent)
            {
                _endSent = true;
                _coordinator.Tell(new EndWatch(_spec.CampaignId));
            }
        }
    }
}
