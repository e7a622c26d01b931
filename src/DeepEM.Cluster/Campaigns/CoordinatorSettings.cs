using Akka.Configuration;

namespace DeepEM.Cluster.Campaigns;

/// <summary>The <c>deepem.cluster</c> section of reference.conf, typed.</summary>
internal sealed record CoordinatorSettings
{
    public int SlotsPerWorker { get; init; } = 2;
    public int TasksPerSlot { get; init; } = 2;
    public int MaxAttempts { get; init; } = 3;
    public TimeSpan ResendUnacknowledgedAfter { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan CheckAcknowledgedAfter { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan IndexInterval { get; init; } = TimeSpan.FromSeconds(5);
    public int SnapshotAfter { get; init; } = 10_000;
    public TimeSpan SnapshotInterval { get; init; } = TimeSpan.FromSeconds(30);
    public int RecordBatch { get; init; } = 4096;
    public TimeSpan RecordInterval { get; init; } = TimeSpan.FromMilliseconds(20);
    public int ModelChunkBytes { get; init; } = 1 << 20;
    public TimeSpan JoinTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Recover and answer status questions, and nothing else: no submissions, no work handed out, nothing persisted
    /// (<c>deepem status --state</c>, which may read a journal that a running coordinator writes).
    /// </summary>
    public bool ReadOnly { get; init; }

    public static CoordinatorSettings From(Config config)
    {
        var c = config.GetConfig("deepem.cluster");
        var settings = new CoordinatorSettings
        {
            SlotsPerWorker = c.GetInt("slots-per-worker"),
            TasksPerSlot = c.GetInt("tasks-per-slot"),
            MaxAttempts = c.GetInt("max-attempts"),
            ResendUnacknowledgedAfter = c.GetTimeSpan("resend-unacknowledged-after"),
            CheckAcknowledgedAfter = c.GetTimeSpan("check-acknowledged-after"),
            IndexInterval = c.GetTimeSpan("index-interval"),
            SnapshotAfter = c.GetInt("snapshot-after"),
            SnapshotInterval = c.GetTimeSpan("snapshot-interval"),
            RecordBatch = c.GetInt("record-batch"),
            RecordInterval = c.GetTimeSpan("record-interval"),
            ModelChunkBytes = c.GetInt("model-chunk-bytes"),
            JoinTimeout = c.GetTimeSpan("join-timeout"),
        };
        if (settings.SlotsPerWorker < 1 || settings.TasksPerSlot < 1 || settings.MaxAttempts < 1 || settings.SnapshotAfter < 1 || settings.RecordBatch < 1)
            throw new ConfigurationException("deepem.cluster: slots-per-worker, tasks-per-slot, max-attempts, snapshot-after and record-batch must be at least 1");
        if (settings.MaxAttempts > 100) throw new ConfigurationException("deepem.cluster.max-attempts must be at most 100");
        if (settings.ModelChunkBytes is < 1024 or > 1 << 20)
            throw new ConfigurationException("deepem.cluster.model-chunk-bytes must lie in 1 KiB..1 MiB");
        return settings;
    }
}
