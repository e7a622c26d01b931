using DeepEM.Cluster.Hosting;
using DeepEM.Cluster.Protocol;
using DeepEM.Numerics.ModelFile;
using DeepEM.Pipeline.Picking;

namespace DeepEM.Cli.Workflows;

/// <summary>What a picking campaign came to, for the verb's summary and exit code.</summary>
/// <summary>What a picking campaign came to; <see cref="Failures"/> lists the first failures, <see cref="FailedCount"/> counts them all.</summary>
public sealed record PickingCampaignResult(int Picked, int AlreadyDone, long Particles, IReadOnlyList<FailedMicrograph> Failures, int FailedCount, TimeSpan Elapsed, string OutDir);

/// <summary>
/// <c>deepem pick</c> as a campaign: on the embedded default (a one-node cluster in this process, its journal in
/// OUT/.deepem) or on the cluster that <c>--join</c> names. Either way the same coordinator and slot actors do
/// the work; this side submits, prints each micrograph as it finishes, and reports.
/// </summary>
public static class PickingCampaign
{
    public static async Task<PickingCampaignResult> RunAsync(string modelPath, TrainedModel model, IReadOnlyList<string> micrographs, string outDir,
        PickingOptions options, string? join, string host, bool verbose, TextWriter output)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var spec = CampaignSpecs.For(modelPath, micrographs, outDir, options);
        var absoluteOut = spec.OutDir;

        var threshold = options.Threshold ?? model.Threshold;
        var where = join is null ? $"embedded cluster (this process), device {options.Device.ToString().ToLowerInvariant()}" : $"cluster at {join}";
        output.WriteLine(FormattableString.Invariant($"{where}; threshold {threshold:0.###}; ") +
            (options.StdFilter ? "std filter on" : "std filter off") + (options.Naive ? "; naive raster scan" : ""));

        var state = Path.Combine(absoluteOut, ".deepem");
        var nodeOptions = join is null
            ? new NodeOptions
            {
                Roles = [Cluster.Roles.Worker, Cluster.Roles.Coordinator], StateDir = state, Device = options.Device,
                LogFile = Path.Combine(state, "deepem.log"), LogLevel = verbose ? "DEBUG" : "INFO",
            }
            : new NodeOptions { Roles = [Cluster.Roles.Client], Host = host, SeedNodes = [join], LogLevel = verbose ? "INFO" : "ERROR" };
        await using var node = await ClusterNode.StartAsync(nodeOptions);
        var client = new CampaignClient(node);
        CampaignAccepted? accepted = null;
        var outcome = await client.RunAsync(spec, a =>
        {
            accepted = a;
            if (join is not null || a.Resumed)
            {
                output.WriteLine($"campaign {a.CampaignId}: {a.Total} micrographs, {a.Done} with picks already{(a.Resumed ? " (resumed)" : "")}");
            }
        }, p =>
        {
            if (p.Failed) return;
            output.WriteLine(FormattableString.Invariant(
                $"{p.Name}: {p.Particles} particles ({p.Peaks} peaks, {p.RejectedByStd} outside the std range), scored {p.Positions} positions in {p.ScoringSeconds:0.000} s") +
                (join is null ? "" : $" on {ShortNode(p.Node)}"));
        });
        var final = outcome.Final;
        var picked = final.Done + final.Skipped - outcome.Accepted.Done;
        return new PickingCampaignResult(picked, outcome.Accepted.Done, final.Particles - outcome.Accepted.Particles, final.Failures, final.Failed, watch.Elapsed, absoluteOut);
    }

    /// <summary><c>host:port</c> of a node address.</summary>
    public static string ShortNode(string node) => node.Contains('@') ? node[(node.IndexOf('@') + 1)..] : node;
}
