using DeepEM.Formats.Coordinates;
using System.Text.Json;
using DeepEM.Cluster.Campaigns;
using DeepEM.Cluster.Protocol;
using DeepEM.Formats.IO;
using DeepEM.Pipeline.Picking;

namespace DeepEM.Cluster.Storage;

/// <summary>
/// A campaign's output folder as the coordinator sees it (through the pipeline's <see cref="PickOutputs"/>): which
/// micrographs have picks there (NAME.star, written by the workers, see <see cref="FolderPickWriter"/>), autopick.star,
/// and campaign.json, the summary (counts, failures, throughput per node) written at the end.
/// </summary>
internal sealed class FolderCampaignOutput : ICampaignOutput
{
    private readonly CampaignSpec _spec;
    private readonly PickOutputs _outputs;

    public FolderCampaignOutput(CampaignSpec spec)
    {
        _spec = spec;
        if (!Path.IsPathFullyQualified(spec.OutDir)) throw new ArgumentException($"{spec.OutDir}: the output folder must be an absolute path");
        try
        {
            Directory.CreateDirectory(spec.OutDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"{spec.OutDir}: cannot create the output folder ({e.Message})");
        }
        // Read and indexed only: the coordinator writes no picks (formats and box are the workers' business).
        _outputs = new PickOutputs(spec.OutDir, [], 0);
    }

    /// <summary>Up to this many names are looked up one by one; more list the folder (one directory read, whatever its size).</summary>
    private const int LookedUpOneByOne = 1000;

    public IReadOnlySet<string> WithPicks(IReadOnlyCollection<string> names) => names.Count <= LookedUpOneByOne
        ? names.Where(n => File.Exists(_outputs.StarPath(n))).ToHashSet(StringComparer.Ordinal)
        : names.Where(_outputs.IsDone).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// autopick.star as RELION 4 and 5 read it: each micrograph named as the user gave it (RELION matches the names of
    /// its micrographs.star by exact string), its coordinates file as RELION resolves it from the project folder.
    /// </summary>
    public void WriteIndex(IReadOnlyList<MicrographRef> withPicks) =>
        _outputs.WriteIndexOf(withPicks.Select(m => new AutopickEntry(_spec.ListedName(m), _spec.ProjectPath(_outputs.StarPath(m.Name)))));

    public void WriteSummary(CampaignStatus status)
    {
        var summary = new
        {
            campaign = status.CampaignId,
            outDir = status.OutDir,
            model = _spec.ModelPath,
            modelSha256 = _spec.ModelSha256,
            total = status.Total,
            picked = status.Done,
            alreadyThere = status.Skipped,
            failed = status.Failed,
            particles = status.Particles,
            submitted = DateTimeOffset.FromUnixTimeMilliseconds(status.SubmittedUnixMs),
            finished = status.FinishedUnixMs > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(status.FinishedUnixMs) : (DateTimeOffset?)null,
            coordinatorMsPerMicrograph = Math.Round(status.CoordinatorMsPerMicrograph, 3),
            // pick --watch: still open while watched; arrivals, what waits, and the latency from complete file to picks.
            watching = status.Watching,
            arrived = status.Arrived,
            backlog = status.Backlog,
            latencySeconds = status.LatencyCount == 0 ? null : new
            {
                count = status.LatencyCount,
                median = Math.Round(status.LatencyMedianSeconds, 3),
                p95 = Math.Round(status.LatencyP95Seconds, 3),
                max = Math.Round(status.LatencyMaxSeconds, 3),
            },
            nodes = status.Nodes.Select(n => new
            {
                node = n.Node,
                micrographs = n.Micrographs,
                busySeconds = Math.Round(n.BusySeconds, 3),
                micrographsPerBusySecond = n.BusySeconds > 0 ? Math.Round(n.Micrographs / n.BusySeconds, 4) : 0,
            }),
            failures = status.Failures.Select(f => new { micrograph = f.Name, error = f.Error }),
        };
        AtomicFile.WriteAllText(Path.Combine(_spec.OutDir, "campaign.json"), JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    public void RemoveLeftovers(IReadOnlyList<string> names, DateTime writtenBeforeUtc) =>
        _outputs.RemoveLeftovers(names, writtenBeforeUtc, ["campaign.json"]);
}

internal sealed class FolderCampaignOutputFactory : ICampaignOutputFactory
{
    public ICampaignOutput Open(CampaignSpec spec) => new FolderCampaignOutput(spec);
}
