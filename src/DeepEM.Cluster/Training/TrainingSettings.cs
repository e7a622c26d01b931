using Akka.Configuration;

namespace DeepEM.Cluster.Training;

/// <summary>The <c>deepem.cluster.training</c> section of reference.conf, typed.</summary>
internal sealed record TrainingSettings
{
    public int CheckpointEvery { get; init; } = 50;
    public TimeSpan StepTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public int MessageBytes { get; init; } = 1 << 20;

    /// <summary>Floats per weights or gradient message.</summary>
    public int FloatsPerMessage => MessageBytes / sizeof(float);

    public static TrainingSettings From(Config config)
    {
        var c = config.GetConfig("deepem.cluster.training");
        var settings = new TrainingSettings
        {
            CheckpointEvery = c.GetInt("checkpoint-every"),
            StepTimeout = c.GetTimeSpan("step-timeout"),
            MessageBytes = c.GetInt("message-bytes"),
        };
        if (settings.CheckpointEvery < 1) throw new ConfigurationException("deepem.cluster.training.checkpoint-every must be at least 1");
        if (settings.MessageBytes is < 1024 or > 1 << 20) throw new ConfigurationException("deepem.cluster.training.message-bytes must lie in 1 KiB..1 MiB");
        return settings;
    }
}
