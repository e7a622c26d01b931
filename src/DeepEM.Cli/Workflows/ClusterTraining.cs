using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using DeepEM.Cluster.Clients;
using DeepEM.Cluster.Blobs;
using DeepEM.Cluster.Nodes;
using DeepEM.Cluster.Protocol;
using DeepEM.Formats.IO;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Training;
using DeepEM.Pipeline.Training;

namespace DeepEM.Cli.Workflows;

/// <summary>
/// <c>deepem train</c> as a data-parallel training on the cluster: on the embedded default (a one-node cluster in
/// this process, its journal and checkpoints in the output's folder, <c>.deepem/</c>) or on the cluster that
/// <c>--join</c> names. The boxes are cut here and written once as a training-set file beside the output, which the
/// coordinator copies and the workers read (or fetch); the training coordinator runs the steps and this side
/// follows the epochs. Re-running the same command follows the same training, or resumes it from its checkpoint.
/// </summary>
public static class ClusterTraining
{
    public static TrainingEngine Engine(string outPath, NodeOptions? client, bool verbose, TextWriter output, CancellationToken cancel = default) => (job, progress) =>
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(outPath))!;
        var state = Path.Combine(folder, ".deepem");
        var blobs = Path.Combine(state, "blobs");
        Directory.CreateDirectory(blobs);
        var set = Blob(blobs, "boxes", BoxSetFile.ToBytes(job.Boxes));
        var init = job.InitialParameters is { } p ? Blob(blobs, "parameters", FloatBytes.ToBytes(p)) : null;
        var o = job.Options;
        var lossName = LossNames.Of(o.Loss);
        var identity = string.Join('|', set.Sha256, init?.Sha256 ?? "", job.Architecture.Preset, job.Architecture.BoxSize, o.Epochs, o.BatchSize,
            o.LearningRate.ToString("R", CultureInfo.InvariantCulture), o.Momentum.ToString("R", CultureInfo.InvariantCulture), lossName,
            o.ValidationFraction.ToString("R", CultureInfo.InvariantCulture), o.Seed) + (o.Symmetries == 4 ? "" : $"|symmetries {o.Symmetries}");
        var jobId = "train-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identity)))[..16];
        var spec = new TrainingSpec(jobId, job.Architecture.Preset, job.Architecture.BoxSize, set, init, o.Epochs, o.BatchSize, o.LearningRate, o.Momentum,
            lossName, o.ValidationFraction, o.Seed, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), o.Symmetries);

        var node = client ?? new NodeOptions
        {
            Embedded = true, Roles = [Cluster.Roles.Worker, Cluster.Roles.Coordinator], StateDir = state, Device = job.Device,
            LogFile = Path.Combine(state, "deepem.log"), LogLevel = verbose ? "DEBUG" : "INFO",
        };
        var where = client is null ? "the embedded cluster (this process)" : $"the cluster at {client.SeedNodes[0]}";
        if (client is null)
        {
            // The embedded node's gradient worker computes on this device (picked the same way).
            using var probe = Numerics.Backends.BackendFactory.Create(job.Architecture, job.Device);
            where += $", device {probe.Device}";
            output.WriteLine($"device: {probe.Device}");
        }
        output.WriteLine($"training {jobId} on {where}: training set {set.Length / 1e6:0.0} MB ({job.Boxes.Count} boxes)");
        var trained = TrainingClient.RunAsMemberAsync(node, spec, a =>
            {
                if (a.Resumed) output.WriteLine(a.Step > 0 ? $"training {a.JobId} resumed after step {a.Step}" : $"training {a.JobId} is known to the cluster: following it");
            }, p => progress?.Invoke(p.Epoch),
            rejoins: client is null ? 0 : PickingCampaign.Rejoins,
            rejoining: n => output.WriteLine($"this client was removed from the cluster; joining again ({n} of {PickingCampaign.Rejoins})"), cancel: cancel)
            .GetAwaiter().GetResult();
        // The coordinator holds its own copies now; the ones written here were only for it to read.
        foreach (var blob in new[] { set, init }.OfType<BlobRef>()) TryDelete(blob.Path);
        var f = trained.Finished;
        var t = f.Traffic;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"steps: {t.Steps} on {t.Workers} gradient worker{(t.Workers == 1 ? "" : "s")}, {t.StepSeconds * 1000:0.0} ms each ({t.ComputeSeconds * 1000:0.0} ms computing, {t.CommunicationSeconds * 1000:0.0} ms the rest), {t.BytesPerStep / 1024.0:0.0} KiB of weights and gradients sent per step"));
        var result = new TrainingResult(trained.Parameters, f.BestEpoch, f.ValidationLoss, f.ValidationAccuracy, f.Threshold, f.TrainingBoxes, f.ValidationBoxes, f.Epochs);
        return (result, $"{where}, {t.Workers} gradient worker{(t.Workers == 1 ? "" : "s")}");
    };

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A copy left behind costs disk only.
        }
    }

    private static BlobRef Blob(string folder, string kind, byte[] bytes)
    {
        var sha = HashedFiles.Sha256Hex(bytes);
        var path = Path.Combine(folder, $"{sha}.{kind}");
        if (!File.Exists(path)) AtomicFile.WriteAllBytes(path, bytes);
        return new BlobRef(sha, path, bytes.Length);
    }
}
