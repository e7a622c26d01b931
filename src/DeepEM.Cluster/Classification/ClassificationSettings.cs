using Akka.Configuration;

namespace DeepEM.Cluster.Classification;

/// <summary>The <c>deepem.cluster.classification</c> section of reference.conf, typed.</summary>
internal sealed record ClassificationSettings
{
    public TimeSpan StepTimeout { get; init; } = TimeSpan.FromSeconds(300);
    public TimeSpan WorkerWait { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan GatherWorkers { get; init; } = TimeSpan.FromSeconds(3);

    public static ClassificationSettings From(Config config)
    {
        var c = config.GetConfig("deepem.cluster.classification");
        return new ClassificationSettings
        {
            StepTimeout = c.GetTimeSpan("step-timeout"),
            WorkerWait = c.GetTimeSpan("worker-wait"),
            GatherWorkers = c.GetTimeSpan("gather-workers"),
        };
    }
}
