using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using DeepEM.Cli.Infrastructure;
using DeepEM.Cluster.Classification;
using DeepEM.Cluster.Clients;
using DeepEM.Cluster.Nodes;
using DeepEM.Numerics.Backends;

namespace DeepEM.Cli.Workflows;

/// <summary>
/// <c>deepem classify</c> on the cluster: on the embedded default (a one-node cluster in this process, its state in
/// OUT/.deepem) or on the cluster that <c>--join</c> names, whose worker nodes cut and align the particles of their
/// shards. This side drives the steps and adds up the parts; the result is the same on one node or many.
/// </summary>
public static class ClusterClassification
{
    /// <summary>The job's id: a hash of everything that decides its result (the picks, the settings, the options).</summary>
    public static string JobId(ClassificationJob job)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{job.Settings}|{job.Options}|");
        foreach (var shard in job.Shards)
        {
            foreach (var m in shard.Micrographs)
            {
                text.Append(m.Path).Append('|');
                foreach (var p in m.Picks) text.Append(CultureInfo.InvariantCulture, $"{p.X:R},{p.Y:R};");
            }
        }
        return "classify-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
    }

    public static async Task<ClassificationOutcome> RunAsync(ClassificationJob job, string outDir, NodeOptions? client, bool verbose, TextWriter output,
        CancellationToken cancel = default)
    {
        await using var progress = new ConsoleProgress(output, "steps");
        var state = Path.Combine(Path.GetFullPath(outDir), ".deepem");
        var nodeOptions = client ?? new NodeOptions
        {
            Embedded = true, Roles = [Cluster.Roles.Worker, Cluster.Roles.Coordinator], StateDir = state, Device = DeviceChoice.Cpu,
            LogFile = Path.Combine(state, "deepem.log"), LogLevel = verbose ? "DEBUG" : "INFO",
        };
        var geometry = job.Settings.Geometry();
        progress.Line(string.Create(CultureInfo.InvariantCulture,
            $"classify {job.JobId} on {(client is null ? "the embedded cluster (this process)" : $"the cluster at {client.SeedNodes[0]}")}: " +
            $"{job.Shards.Sum(s => s.Picks)} picks of {job.Shards.Sum(s => s.Micrographs.Count)} micrographs in {job.Shards.Count} shards; " +
            $"box {job.Settings.Box} px binned {job.Settings.Binning}x to {geometry.Size} px, mask {geometry.MaskRadius * 2 * job.Settings.Binning:0} px, " +
            $"shifts up to {geometry.MaxShift * job.Settings.Binning} px, angles every {geometry.AngularStepDegrees:0.##} deg; {job.Options.Classes} classes"));
        var workers = 0;
        return await ClassificationClient.RunAsMemberAsync(nodeOptions, job, p =>
        {
            if (p.Workers != workers)
            {
                workers = p.Workers;
                progress.Line($"{p.Workers} worker node{(p.Workers == 1 ? "" : "s")}");
            }
            if (p.Report is { } r) progress.Line(string.Create(CultureInfo.InvariantCulture, $"{r.Phase}: {r.Summary} ({r.Seconds:0.0} s)"));
            progress.Report(job.JobId + "/cut", "cutting particles (shards)", p.ShardsLoaded, p.Shards);
            if (p.MaxSteps > 0) progress.Report(job.JobId, "classifying (steps, at most)", p.Step, p.MaxSteps);
        }, rejoins: client is null ? 0 : PickingCampaign.Rejoins,
            rejoining: n => progress.Line($"this client was removed from the cluster; starting the classification again ({n} of {PickingCampaign.Rejoins})"), cancel: cancel);
    }
}
