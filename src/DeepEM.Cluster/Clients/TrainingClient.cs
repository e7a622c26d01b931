using Akka.Actor;
using DeepEM.Cluster.Blobs;
using DeepEM.Cluster.Nodes;
using DeepEM.Cluster.Protocol;
using DeepEM.Numerics.Training;

namespace DeepEM.Cluster.Clients;

/// <summary>A training the cluster finished: its report and the best epoch's parameters.</summary>
public sealed record TrainedOnCluster(TrainingAccepted Accepted, TrainingFinished Finished, float[] Parameters);

/// <summary>
/// Submits a training to the training coordinator and follows it to the end, from any node (the embedded one, or a
/// client member of a remote cluster), then fetches the trained parameters (from their path when this node can read
/// it, otherwise in chunks, checked by SHA-256 either way). Submitting is idempotent: the same spec follows the same
/// training, whether it is running, finished, or resumes from its checkpoint after a coordinator restart.
/// </summary>
public sealed class TrainingClient(ClusterNode node)
{
    public async Task<TrainedOnCluster> RunAsync(TrainingSpec spec, Action<TrainingAccepted> accepted, Action<TrainingProgress> progress, CancellationToken cancel = default)
    {
        var done = new TaskCompletionSource<(TrainingAccepted, TrainingFinished)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var follower = node.System.ActorOf(Props.Create(() => new Follower(node.Training, spec, accepted, progress, done)));
        await using var registration = cancel.Register(() => done.TrySetCanceled());
        _ = node.System.WhenTerminated.ContinueWith(_ => done.TrySetException(new ClientRemovedException(spec.JobId)), TaskScheduler.Default);
        try
        {
            var (a, finished) = await done.Task;
            var bytes = await new BlobReplicas(node.Training, TimeSpan.FromSeconds(30))
                .GetAsync(finished.BestParameters.Sha256, finished.BestParameters.Path, finished.BestParameters.Length);
            return new TrainedOnCluster(a, finished, FloatBytes.FromBytes(bytes, finished.BestParameters.Path));
        }
        finally
        {
            node.System.Stop(follower);
        }
    }

    /// <summary>
    /// Starts a member with <paramref name="options"/> and runs the training from it; a member that the cluster removes
    /// is replaced, at most <paramref name="rejoins"/> times (<see cref="ClientMembership"/>).
    /// </summary>
    public static Task<TrainedOnCluster> RunAsMemberAsync(NodeOptions options, TrainingSpec spec, Action<TrainingAccepted> accepted,
        Action<TrainingProgress> progress, int rejoins, Action<int>? rejoining = null, Action<ClusterNode>? started = null, CancellationToken cancel = default)
        => ClientMembership.RunAsync(options, node => new TrainingClient(node).RunAsync(spec, accepted, progress, cancel), rejoins, rejoining, started, cancel);

    private sealed class Follower : ReceiveActor, IWithTimers
    {
        private sealed class Again : INoSerializationVerificationNeeded
        {
            public static readonly Again Instance = new();
        }

        public ITimerScheduler Timers { get; set; } = null!;

        public Follower(IActorRef coordinator, TrainingSpec spec, Action<TrainingAccepted> onAccepted, Action<TrainingProgress> progress,
            TaskCompletionSource<(TrainingAccepted, TrainingFinished)> done)
        {
            TrainingAccepted? accepted = null;
            var reported = new HashSet<int>();
            // Until accepted the submission is repeated (the singleton may still be starting); then the follow request
            // is (a restarted coordinator has forgotten its followers). Both are idempotent.
            Timers.StartPeriodicTimer("again", Again.Instance, TimeSpan.FromSeconds(3));
            coordinator.Tell(new SubmitTraining(spec));
            Receive<Again>(_ => coordinator.Tell(accepted is null ? new SubmitTraining(spec) : new FollowTraining(spec.JobId)));
            Receive<TrainingAccepted>(a =>
            {
                if (accepted is not null) return;
                accepted = a;
                onAccepted(a);
                coordinator.Tell(new FollowTraining(spec.JobId));
            });
            Receive<TrainingRejected>(r => done.TrySetException(new CampaignRejectedException(r.Reason)));
            // A follower is sent every epoch so far when it (re)registers: report each once.
            Receive<TrainingProgress>(p =>
            {
                if (reported.Add(p.Epoch.Epoch)) progress(p);
            });
            Receive<TrainingFinished>(f =>
            {
                if (accepted is not null) done.TrySetResult((accepted, f));
            });
        }
    }
}
