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

    public bool HasPicks(string name) => _outputs.IsDone(name);

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
            finished = DateTimeOffset.FromUnixTimeMilliseconds(status.FinishedUnixMs),
            coordinatorMsPerMicrograph = Math.Round(status.CoordinatorMsPerMicrograph, 3),
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
