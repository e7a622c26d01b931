using DeepEM.Cli.Infrastructure;
using DeepEM.Cluster.Clients;
using DeepEM.Cluster.Nodes;
using DeepEM.Cluster.Protocol;
using DeepEM.Formats.Coordinates;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.ModelFile;
using DeepEM.Pipeline.Picking;

namespace DeepEM.Cli.Workflows;

/// <summary>What a picking campaign came to; <see cref="Failures"/> lists the first failures, <see cref="FailedCount"/> counts them all.</summary>
public sealed record PickingCampaignResult(int Picked, int AlreadyDone, long Particles, IReadOnlyList<FailedMicrograph> Failures, int FailedCount, TimeSpan Elapsed, string OutDir);

/// <summary>
/// <c>deepem pick</c> as a campaign: on the embedded default (a one-node cluster in this process, its journal in
/// OUT/.deepem) or on the cluster that <c>--join</c> names. Either way the same coordinator and slot actors do
/// the work; this side submits, prints each micrograph as it finishes, and reports.
/// </summary>
public static class PickingCampaign
{
    /// <summary>How many times a client that the cluster removed joins again to go on following its campaign.</summary>
    public const int Rejoins = 3;

    /// <param name="client">A client member of a running cluster (--join), or null for the embedded one-node cluster.</param>
    /// <param name="modelSha256">The hash of the bytes <paramref name="model"/> was parsed from: with it, the embedded cluster
    /// picks the first micrograph while it forms (PickAhead).</param>
    public static async Task<PickingCampaignResult> RunAsync(string modelPath, TrainedModel model, IReadOnlyList<string> micrographs, string outDir,
        PickSettings settings, IReadOnlyList<CoordinateFormat> formats, DeviceChoice device, bool relionLayout, NodeOptions? client, bool verbose, TextWriter output,
        CancellationToken cancel = default, string? modelSha256 = null)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var spec = CampaignSpecs.For(modelPath, micrographs, outDir, settings, formats, relionLayout);
        var absoluteOut = spec.OutDir;

        await using var progress = new ConsoleProgress(output, "micrographs");
        progress.Line(Describe(client, device, settings, model));

        var nodeOptions = NodeFor(client, absoluteOut, device, verbose);
        if (client is null && modelSha256 is not null && spec.Micrographs.Count > 0 && !File.Exists(Cluster.Storage.StateJournal.PathIn(nodeOptions.StateDir!)))
        {
            // A new campaign's first micrograph is picked while the embedded cluster forms (PickAhead). A campaign resumed
            // may have it already, and is left to pick as it always did. The hash is of the bytes the model was parsed
            // from (the spec read the file again: one replaced in between is another model, and its tasks pick anew).
            nodeOptions = nodeOptions with { PickAhead = new PickAhead(modelSha256, model, spec.Settings, spec.Micrographs[0].Path) };
        }
        // A client that the cluster removes joins again; the embedded node is the whole cluster and is never removed.
        var failed = 0;
        var outcome = await CampaignClient.RunAsMemberAsync(nodeOptions, spec, a =>
        {
            if (client is not null || a.Resumed)
            {
                progress.Line($"campaign {a.CampaignId}: {a.Total} micrographs, {a.Done} with picks already{(a.Resumed ? " (resumed)" : "")}");
            }
            failed = a.Failed;
            progress.Report(a.CampaignId, "picking", a.Done + failed, a.Total);
        }, p =>
        {
            if (p.Failed)
            {
                Interlocked.Increment(ref failed);
            }
            else
            {
                progress.Line(Describe(p, onCluster: client is not null));
            }
            progress.Report(p.CampaignId, "picking", p.Done + failed, p.Total);
        }, rejoins: client is null ? 0 : Rejoins, rejoining: n => progress.Line($"this client was removed from the cluster; joining again ({n} of {Rejoins})"), cancel: cancel);
        var final = outcome.Final;
        var picked = final.Done + final.Skipped - outcome.Accepted.Done;
        return new PickingCampaignResult(picked, outcome.Accepted.Done, final.Particles - outcome.Accepted.Particles, final.Failures, final.Failed, watch.Elapsed, absoluteOut);
    }

    /// <summary>The member that runs the campaign: the client of a cluster, or the embedded one-node cluster, its journal in OUT/.deepem.</summary>
    internal static NodeOptions NodeFor(NodeOptions? client, string absoluteOut, DeviceChoice device, bool verbose)
    {
        if (client is not null) return client;
        var state = Path.Combine(absoluteOut, ".deepem");
        return new NodeOptions
        {
            Embedded = true, Roles = [Cluster.Roles.Worker, Cluster.Roles.Coordinator], StateDir = state, Device = device,
            // --device gpu picks on every GPU of the machine, a lane each.
            Gpus = Commands.NodeCommand.ResolveGpus(device, null),
            LogFile = Path.Combine(state, "deepem.log"), LogLevel = verbose ? "DEBUG" : "INFO",
        };
    }

    /// <summary>The line printed for a picked micrograph.</summary>
    internal static string Describe(MicrographProgress p, bool onCluster) => FormattableString.Invariant(
        $"{p.Name}: {p.Particles} particles ({p.Peaks} peaks, {p.RejectedByStd} outside the std range), scored {p.Positions} positions in {p.ScoringSeconds:0.000} s") +
        (onCluster ? $" on {ShortNode(p.Node)}" : "");

    /// <summary>The first line: where the campaign runs and how it scores.</summary>
    internal static string Describe(NodeOptions? client, DeviceChoice device, PickSettings settings, TrainedModel model) =>
        (client is null ? $"embedded cluster (this process), device {device.ToString().ToLowerInvariant()}" : $"cluster at {client.SeedNodes[0]}") +
        FormattableString.Invariant($"; threshold {settings.Threshold ?? model.Threshold:0.###}; ") +
        (settings.StdFilter ? "std filter on" : "std filter off") + (settings.Naive ? "; naive raster scan" : "");

    /// <summary><c>host:port</c> of a node address.</summary>
    public static string ShortNode(string node) => node.Contains('@') ? node[(node.IndexOf('@') + 1)..] : node;
}
