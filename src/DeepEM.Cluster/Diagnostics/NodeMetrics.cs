using Akka.Actor;
using Prometheus;

namespace DeepEM.Cluster.Diagnostics;

/// <summary>
/// A node's metrics for Prometheus, one set per ActorSystem (an Akka extension: tests run several nodes in one
/// process, and each must report its own). Worker nodes count what they picked and how long it took; a node that
/// holds the campaign coordinator reports queue depths; the training coordinator's node reports step times. Every
/// node reports the cluster's members as it sees them and the models it holds. Served by
/// <see cref="NodeHttpEndpoint"/> at <c>/metrics</c>.
/// </summary>
internal sealed class NodeMetrics : IExtension
{
    public NodeMetrics(ExtendedActorSystem system)
    {
        Registry = Metrics.NewCustomRegistry();
        // The process's own figures (CPU, memory, GC, threads): the first thing to look at when a node is slow.
        DotNetStats.Register(Registry);
        var factory = Metrics.WithCustomRegistry(Registry);

        MicrographsPicked = factory.CreateCounter("deepem_micrographs_picked_total", "Micrographs this node picked.", "campaign");
        MicrographsFailed = factory.CreateCounter("deepem_micrographs_failed_total", "Micrographs that failed on this node (bad input or an error).", "campaign");
        Particles = factory.CreateCounter("deepem_particles_total", "Particles this node picked.", "campaign");
        PickLatencySeconds = factory.CreateHistogram("deepem_pick_latency_seconds",
            "Seconds from a watched micrograph completely written (pick --watch) to its picks written, on the campaign coordinator's node.",
            new HistogramConfiguration { LabelNames = ["campaign"], Buckets = Histogram.ExponentialBuckets(0.25, 2, 14) });
        MicrographSeconds = factory.CreateHistogram("deepem_micrograph_seconds", "Seconds from reading a micrograph to its picks, on this node.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.05, 2, 12) });
        QueueDepth = factory.CreateGauge("deepem_queue_depth", "Micrographs of a campaign waiting for a slot (on the node that holds the campaign coordinator).", "campaign");
        InFlight = factory.CreateGauge("deepem_micrographs_in_flight", "Micrographs of a campaign held by slots (campaign coordinator's node).", "campaign");
        CampaignDone = factory.CreateGauge("deepem_campaign_micrographs_settled", "Micrographs of a campaign picked, already there or failed (campaign coordinator's node).", "campaign");
        CampaignTotal = factory.CreateGauge("deepem_campaign_micrographs", "Micrographs in a campaign (campaign coordinator's node).", "campaign");
        TrainingStepSeconds = factory.CreateHistogram("deepem_training_step_seconds", "Seconds per data-parallel training step, gradients of all workers summed (training coordinator's node).",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.002, 2, 14) });
        TrainingStep = factory.CreateGauge("deepem_training_step", "The step the running training has reached: the version of its weights (training coordinator's node).", "training");
        GradientSliceSeconds = factory.CreateHistogram("deepem_gradient_slice_seconds", "Seconds this node spent on one slice of a training step.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.001, 2, 14) });
        Models = factory.CreateGauge("deepem_model_info", "1 for each model this node holds: its SHA-256 (first 12 hex digits) and what for.", "model", "use");
        var members = factory.CreateGauge("deepem_cluster_members", "Members of the cluster in each status, as this node sees it.", "status");
        var cluster = Akka.Cluster.Cluster.Get(system);
        Registry.AddBeforeCollectCallback(() =>
        {
            foreach (var status in Enum.GetValues<Akka.Cluster.MemberStatus>()) members.WithLabels(status.ToString().ToLowerInvariant()).Set(0);
            foreach (var member in cluster.State.Members) members.WithLabels(member.Status.ToString().ToLowerInvariant()).Inc();
        });
    }

    public CollectorRegistry Registry { get; }

    public Counter MicrographsPicked { get; }
    public Counter MicrographsFailed { get; }
    public Counter Particles { get; }
    public Histogram MicrographSeconds { get; }
    public Histogram PickLatencySeconds { get; }
    public Gauge QueueDepth { get; }
    public Gauge InFlight { get; }
    public Gauge CampaignDone { get; }
    public Gauge CampaignTotal { get; }
    public Histogram TrainingStepSeconds { get; }
    public Gauge TrainingStep { get; }
    public Histogram GradientSliceSeconds { get; }
    public Gauge Models { get; }

    /// <summary>Marks a model as held (picking replica, training weights) by the first 12 hex digits of its SHA-256.</summary>
    public void HoldsModel(string sha256, string use) => Models.WithLabels(sha256.Length > 12 ? sha256[..12] : sha256, use).Set(1);

    public static NodeMetrics For(ActorSystem system) => system.WithExtension<NodeMetrics, NodeMetricsProvider>();
}

internal sealed class NodeMetricsProvider : ExtensionIdProvider<NodeMetrics>
{
    public override NodeMetrics CreateExtension(ExtendedActorSystem system) => new(system);
}
