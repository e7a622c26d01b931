using DeepEM.Formats.Coordinates;
using System.Buffers;
using System.Text;
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

    /// <remarks>
    /// Written field by field rather than by <see cref="JsonSerializer"/>: serialising through reflection builds its
    /// metadata on first use, about 45 ms on the path of every campaign's end (docs/benchmarks.md). The layout is the one
    /// the serializer gave: the same fields in the same order, indented, the same encoder.
    /// </remarks>
    public void WriteSummary(CampaignStatus status)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("campaign", status.CampaignId);
            json.WriteString("outDir", status.OutDir);
            json.WriteString("model", _spec.ModelPath);
            json.WriteString("modelSha256", _spec.ModelSha256);
            json.WriteNumber("total", status.Total);
            json.WriteNumber("picked", status.Done);
            json.WriteNumber("alreadyThere", status.Skipped);
            json.WriteNumber("failed", status.Failed);
            json.WriteNumber("particles", status.Particles);
            json.WriteString("submitted", DateTimeOffset.FromUnixTimeMilliseconds(status.SubmittedUnixMs));
            if (status.FinishedUnixMs > 0) json.WriteString("finished", DateTimeOffset.FromUnixTimeMilliseconds(status.FinishedUnixMs));
            else json.WriteNull("finished");
            json.WriteNumber("coordinatorMsPerMicrograph", Math.Round(status.CoordinatorMsPerMicrograph, 3));
            // pick --watch: still open while watched; arrivals, what waits, and the latency from complete file to picks.
            json.WriteBoolean("watching", status.Watching);
            json.WriteNumber("arrived", status.Arrived);
            json.WriteNumber("backlog", status.Backlog);
            if (status.LatencyCount == 0)
            {
                json.WriteNull("latencySeconds");
            }
            else
            {
                json.WriteStartObject("latencySeconds");
                json.WriteNumber("count", status.LatencyCount);
                json.WriteNumber("median", Math.Round(status.LatencyMedianSeconds, 3));
                json.WriteNumber("p95", Math.Round(status.LatencyP95Seconds, 3));
                json.WriteNumber("max", Math.Round(status.LatencyMaxSeconds, 3));
                json.WriteEndObject();
            }
            json.WriteStartArray("nodes");
            foreach (var n in status.Nodes)
            {
                json.WriteStartObject();
                json.WriteString("node", n.Node);
                json.WriteNumber("micrographs", n.Micrographs);
                json.WriteNumber("busySeconds", Math.Round(n.BusySeconds, 3));
                json.WriteNumber("micrographsPerBusySecond", n.BusySeconds > 0 ? Math.Round(n.Micrographs / n.BusySeconds, 4) : 0);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteStartArray("failures");
            foreach (var f in status.Failures)
            {
                json.WriteStartObject();
                json.WriteString("micrograph", f.Name);
                json.WriteString("error", f.Error);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        AtomicFile.WriteAllText(Path.Combine(_spec.OutDir, "campaign.json"), Encoding.UTF8.GetString(buffer.WrittenSpan) + "\n");
    }

    public void RemoveLeftovers(IReadOnlyList<string> names, DateTime writtenBeforeUtc) =>
        _outputs.RemoveLeftovers(names, writtenBeforeUtc, ["campaign.json"]);
}

internal sealed class FolderCampaignOutputFactory : ICampaignOutputFactory
{
    public ICampaignOutput Open(CampaignSpec spec) => new FolderCampaignOutput(spec);
}
