using System.Diagnostics;
using DeepEM.Imaging.Randomness;
using DeepEM.Numerics.Backends;

namespace DeepEM.Numerics.Training;

/// <summary>
/// Trains a DeepEM network on labelled boxes on one device. Each box is seen in its four 90° rotations every epoch
/// (the paper's ×4 data); validation boxes are held out with all their rotations and scored as picking scores
/// them, by the mean over the four rotations. The parameters of the epoch with the best validation accuracy
/// (lower loss breaking ties) are kept. Everything random is drawn from the seed: same seed and data, same bytes.
/// The steps themselves are <see cref="TrainingRun"/>'s, which a cluster runs the same way with gradients from
/// several nodes.
/// </summary>
public sealed class Trainer(IComputeBackend backend, TrainingOptions options)
{
    public TrainingResult Train(BoxSet data, float[]? initialParameters = null, Action<EpochReport>? progress = null)
    {
        var run = new TrainingRun(backend.Architecture, data, options, initialParameters);
        var arch = backend.Architecture;
        var pixels = arch.BoxSize * arch.BoxSize;
        var batch = run.BatchBoxes;
        var batchBoxes = new float[batch * pixels];
        var batchTargets = new float[batch];
        var batchScores = new float[batch];
        var gradient = new float[arch.ParameterCount];
        var watch = Stopwatch.StartNew();
        var epochStart = watch.Elapsed;
        while (!run.Finished)
        {
            var samples = run.NextBatch();
            var n = samples.Length;
            TrainingRun.Assemble(data, samples, batchBoxes, batchTargets);
            var loss = backend.Gradient(run.Parameters, batchBoxes.AsSpan(0, n * pixels), batchTargets.AsSpan(0, n), n, options.Loss, gradient, batchScores);
            run.ApplyGradient(gradient, loss, n);
            if (run.EpochComplete)
            {
                var report = run.FinishEpoch(backend, watch.Elapsed - epochStart, watch.Elapsed);
                progress?.Invoke(report);
                epochStart = watch.Elapsed;
            }
        }
        return run.Result(backend);
    }

    /// <summary>Scores boxes as picking does: the mean of the network's output over the four rotations.</summary>
    public float[] ScoreRotationAveraged(float[] parameters, BoxSet data, IReadOnlyList<int> indices) =>
        ScoreRotationAveraged(backend, parameters, data, indices);

    /// <summary>Scores boxes as picking does: the mean of the network's output over the four rotations.</summary>
    public static float[] ScoreRotationAveraged(IComputeBackend backend, float[] parameters, BoxSet data, IReadOnlyList<int> indices)
    {
        if (backend.Architecture.BatchNorm && backend is Backends.Managed.ManagedBackend managed)
        {
            // Folded once for the whole set, as the saved model is, not per call of the chunked scoring below.
            using var plain = new Backends.Managed.ManagedBackend(backend.Architecture.WithoutBatchNorm());
            return ScoreRotationAveraged(plain, FoldBatchNorm(managed, parameters, data, indices), data, indices);
        }
        var arch = backend.Architecture;
        var pixels = arch.BoxSize * arch.BoxSize;
        var scores = new float[indices.Count];
        const int chunk = 256;
        var buffer = new float[chunk * 4 * pixels];
        var raw = new float[chunk * 4];
        for (var start = 0; start < indices.Count; start += chunk)
        {
            var n = Math.Min(chunk, indices.Count - start);
            for (var b = 0; b < n; b++)
                for (var r = 0; r < 4; r++)
                    BoxRotation.Rotate(data.Box(indices[start + b]), buffer.AsSpan((b * 4 + r) * pixels, pixels), arch.BoxSize, r);
            backend.Score(parameters, buffer.AsSpan(0, n * 4 * pixels), n * 4, raw);
            for (var b = 0; b < n; b++)
            {
                scores[start + b] = (raw[4 * b] + raw[4 * b + 1] + raw[4 * b + 2] + raw[4 * b + 3]) / 4;
            }
        }
        return scores;
    }

    /// <summary>Boxes whose statistics are folded into a batch-normalised network's convolutions (more change nothing measurable).</summary>
    public const int FoldingBoxes = 4096;

    /// <summary>
    /// The plain network's parameters: batch normalisation folded with the statistics of up to <see cref="FoldingBoxes"/>
    /// of the boxes at <paramref name="indices"/>, evenly spaced over them, box i in rotation i mod 4.
    /// </summary>
    public static float[] FoldBatchNorm(Backends.Managed.ManagedBackend backend, float[] parameters, BoxSet data, IReadOnlyList<int> indices)
    {
        var arch = backend.Architecture;
        var count = Math.Min(FoldingBoxes, indices.Count);
        var pixels = arch.BoxSize * arch.BoxSize;
        var sample = new float[count * pixels];
        for (var i = 0; i < count; i++)
        {
            BoxRotation.Rotate(data.Box(indices[(int)((long)i * indices.Count / count)]), sample.AsSpan(i * pixels, pixels), arch.BoxSize, i % 4);
        }
        return backend.FoldBatchNorm(parameters, sample, count)[..arch.PlainParameterCount];
    }

    /// <summary>A seeded split, stratified so that particles and non-particles keep their ratio in both parts.</summary>
    public static (int[] train, int[] validation) Split(BoxSet data, double fraction, ulong seed)
    {
        var rng = DeterministicRandom.ForStream(seed, 0x5A11);
        var train = new List<int>();
        var validation = new List<int>();
        foreach (var label in new[] { 1f, 0f })
        {
            var group = Enumerable.Range(0, data.Count).Where(i => (data.Label(i) > 0.5f) == (label > 0.5f)).ToArray();
            TrainingRun.Shuffle(group, rng);
            var nVal = (int)Math.Round(group.Length * fraction);
            if (group.Length >= 2 && fraction > 0) nVal = Math.Clamp(nVal, 1, group.Length - 1);
            validation.AddRange(group.Take(nVal));
            train.AddRange(group.Skip(nVal));
        }
        train.Sort();
        validation.Sort();
        return (train.ToArray(), validation.ToArray());
    }
}
