using System.Security.Cryptography;
using System.Text;
using Akka.Actor;
using DeepEM.Cluster.Nodes;
using DeepEM.Cluster.Protocol;

namespace DeepEM.Cluster.Clients;

/// <summary>The campaign was refused by the coordinator (one line saying why).</summary>
public class CampaignRejectedException(string reason) : Exception(reason);

/// <summary>
/// This client's actor system stopped before the campaign was complete: the cluster removed it (the split-brain
/// resolver downed it, or every node it knew is gone). The campaign itself goes on in the cluster.
/// </summary>
internal sealed class ClientRemovedException(string campaignId, string? message = null) : CampaignRejectedException(message ??
    $"this client left the cluster before {campaignId} was complete; it goes on in the cluster: run the same command again to follow it")
{
    public string CampaignId { get; } = campaignId;
}

/// <summary>What a followed campaign did while it was followed.</summary>
public sealed record CampaignOutcome(CampaignAccepted Accepted, CampaignStatus Final);

/// <summary>
/// Submits a campaign to the coordinator and follows it to the end, from any node (the embedded one, or a client
/// member of a remote cluster). Survives a coordinator restart: it keeps asking to follow until the campaign is
/// complete.
/// </summary>
public sealed class CampaignClient(ClusterNode node)
{
    /// <summary>The campaign of an output folder: the same folder always names the same campaign (re-running resumes).</summary>
    public static string CampaignIdOf(string absoluteOutDir) =>
        "pick-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(absoluteOutDir)))[..16];

    public async Task<CampaignOutcome> RunAsync(CampaignSpec spec, Action<CampaignAccepted> accepted, Action<MicrographProgress> progress, CancellationToken cancel = default)
    {
        var done = new TaskCompletionSource<CampaignOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        var follower = node.System.ActorOf(Props.Create(() => new Follower(node.Coordinator, spec, accepted, progress, done)));
        await using var registration = cancel.Register(() => done.TrySetCanceled());
        // A client that the cluster removes (downed by the split-brain resolver, or the whole cluster gone) stops its
        // actor system: say so instead of waiting for ever. The campaign itself goes on in the cluster.
        _ = node.System.WhenTerminated.ContinueWith(_ => done.TrySetException(new ClientRemovedException(spec.CampaignId)), TaskScheduler.Default);
        try
        {
            return await done.Task;
        }
        finally
        {
            node.System.Stop(follower);
        }
    }

    /// <summary>
    /// Starts a member with <paramref name="options"/>, submits the campaign and follows it to the end, joining again
    /// if the cluster removes the member (<see cref="ClientMembership"/>). The outcome's acceptance is the first one, so
    /// "already done" means done before this call.
    /// </summary>
    public static async Task<CampaignOutcome> RunAsMemberAsync(NodeOptions options, CampaignSpec spec, Action<CampaignAccepted> accepted,
        Action<MicrographProgress> progress, int rejoins, Action<int>? rejoining = null, Action<ClusterNode>? started = null, CancellationToken cancel = default)
    {
        CampaignAccepted? first = null;
        return await ClientMembership.RunAsync(options, async node =>
        {
            var outcome = await new CampaignClient(node).RunAsync(spec, a =>
            {
                first ??= a;
                accepted(a);
            }, progress, cancel);
            return outcome with { Accepted = first ?? outcome.Accepted };
        }, rejoins, rejoining, started, cancel);
    }

    public async Task<IReadOnlyList<CampaignStatus>> StatusAsync(string campaignId, TimeSpan timeout)
    {
        var report = await node.Coordinator.Ask<CampaignStatusReport>(new GetCampaignStatus(campaignId), timeout);
        return report.Campaigns;
    }

    /// <summary>Micrographs per submission message: about 0.2 KB each, so a batch stays far below the 4 MiB frame.</summary>
    public const int BatchSize = 5000;

    private sealed class Follower : ReceiveActor, IWithTimers
    {
        private sealed class Again : INoSerializationVerificationNeeded
        {
            public static readonly Again Instance = new();
        }

        public ITimerScheduler Timers { get; set; } = null!;

        public Follower(IActorRef coordinator, CampaignSpec spec, Action<CampaignAccepted> onAccepted, Action<MicrographProgress> progress,
            TaskCompletionSource<CampaignOutcome> done)
        {
            CampaignAccepted? accepted = null;
            // A campaign of tens of thousands of micrographs would not fit one remoting frame: it goes in batches, each
            // a submission of the same campaign (the first starts it, the others add to it), each sent once the last
            // is accepted.
            var batches = spec.Micrographs.Chunk(BatchSize).Select(b => spec with { Micrographs = b }).DefaultIfEmpty(spec).ToList();
            var known = batches.Select((_, i) => batches.Take(i + 1).Sum(b => b.Micrographs.Count)).ToList();
            var batch = 0;
            // Until accepted, the submission is repeated (the singleton may still be starting); afterwards the follow
            // request is (a restarted coordinator has forgotten its followers). Both are idempotent.
            Timers.StartPeriodicTimer("again", Again.Instance, TimeSpan.FromSeconds(3));
            coordinator.Tell(new SubmitCampaign(batches[0]));
            Receive<Again>(_ => coordinator.Tell(accepted is null ? new SubmitCampaign(batches[batch]) : new FollowCampaign(spec.CampaignId)));
            Receive<CampaignAccepted>(a =>
            {
                if (accepted is not null) return;
                if (a.Total < known[batch]) return;
                if (batch < batches.Count - 1)
                {
                    coordinator.Tell(new SubmitCampaign(batches[++batch]));
                    return;
                }
                accepted = a;
                onAccepted(a);
                coordinator.Tell(new FollowCampaign(spec.CampaignId));
            });
            Receive<CampaignRejected>(r => done.TrySetException(new CampaignRejectedException(r.Reason)));
            var once = new ProgressOnce(progress);
            Receive<MicrographProgress>(once.Hear);
            Receive<MicrographProgressBatch>(once.Hear);
            Receive<CampaignStatus>(s =>
            {
                if (accepted is not null && s.Complete) done.TrySetResult(new CampaignOutcome(accepted, s));
            });
        }
    }
}

/// <summary>
/// Each micrograph's progress handed on once: a follower may hear one twice (a coordinator that restarted, a follow
/// request repeated while a batch was on its way).
/// </summary>
internal sealed class ProgressOnce(Action<MicrographProgress> progress)
{
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);

    public void Hear(MicrographProgress p)
    {
        if (_seen.Add(p.Name)) progress(p);
    }

    public void Hear(MicrographProgressBatch batch)
    {
        foreach (var p in batch.Items) Hear(p);
    }
}
