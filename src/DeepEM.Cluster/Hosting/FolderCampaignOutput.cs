using System.Text.Json;
using DeepEM.Cluster.Campaigns;
using DeepEM.Cluster.Protocol;
using DeepEM.Formats.Coordinates;
using DeepEM.Formats.IO;
using DeepEM.Pipeline.Picking;

namespace DeepEM.Cluster.Hosting;

/// <summary>
/// A campaign's output folder as CONTRACT.md lays it out (through the pipeline's <see cref="PickOutputs"/>):
/// NAME.star and the other coordinate files per micrograph, autopick.star, and campaign.json, the summary
/// (counts, failures, throughput per node) written at the end.
/// </summary>
public sealed class FolderCampaignOutput : ICampaignOutput
{
    private readonly CampaignSpec _spec;
    private readonly PickOutputs _outputs;

    public FolderCampaignOutput(CampaignSpec spec, int boxSize)
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
        var formats = PipelineMicrographPicking.ToOptions(spec.Settings, Numerics.Backends.DeviceChoice.Cpu).Formats;
        _outputs = new PickOutputs(spec.OutDir, formats, boxSize);
    }

    public bool HasPicks(string name) => _outputs.IsDone(name);

    public void WritePicks(TaskPicked picks)
    {
        var list = new List<Pick>(picks.X.Count);
        for (var i = 0; i < picks.X.Count; i++) list.Add(new Pick(picks.X[i], picks.Y[i], picks.Score[i]));
        // PickOutputs refuses names with separators or "..": names come over the network and must stay inside the folder.
        _outputs.Write(picks.Name, list);
    }

    public void WriteIndex(IEnumerable<MicrographRef> withPicks) => _outputs.WriteIndex(withPicks.Select(m => (m.Name, m.Path)));

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
}

/// <summary>Opens campaign outputs; the box size (for EMAN2 .box files) comes from the campaign's model.</summary>
public sealed class FolderCampaignOutputFactory(FolderModelStore models) : ICampaignOutputFactory
{
    public ICampaignOutput Open(CampaignSpec spec) => new FolderCampaignOutput(spec, models.BoxSizeOf(spec.ModelSha256));
}
