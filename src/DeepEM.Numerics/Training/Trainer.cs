using System.Diagnostics;
using DeepEM.Imaging.Randomness;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.Layers;

namespace DeepEM.Numerics.Training;

/// <summary>
/// Trains a DeepEM network on labelled boxes. Each box is seen in its four 90° rotations every epoch (the
/// paper's ×4 data); validation boxes are held out with all their rotations and scored as picking scores
/// them, by the mean over the four rotations. The parameters of the epoch with the best validation accuracy
/// (lower loss breaking ties) are kept. Everything random is drawn from the seed: same seed and data, same bytes.
/// </summary>
public sealed class Trainer(IComputeBackend backend, TrainingOptions options)
{
    public TrainingResult Train(BoxSet data, float[]? initialParameters = null, Action<EpochReport>? progress = null)
    {
        var arch = backend.Architecture;
        if (data.BoxSize != arch.BoxSize)
        {
            throw new ArgumentException($"boxes of {data.BoxSize} px for a network of {arch.BoxSize} px");
        }
        var (trainIdx, valIdx) = Split(data, options.ValidationFraction, options.Seed);
        if (trainIdx.Length == 0 || valIdx.Length == 0)
        {
            throw new ArgumentException($"too few boxes to train and validate ({data.Count})");
        }
        var parameters = initialParameters is null ? WeightInitialization.Create(arch, options.Seed) : (float[])initialParameters.Clone();
        if (parameters.Length != arch.ParameterCount)
        {
            throw new ArgumentException($"initial parameters hold {parameters.Length} values, the network has {arch.ParameterCount}");
        }
        var velocity = new float[parameters.Length];
        var gradient = new float[parameters.Length];
        var pixels = arch.BoxSize * arch.BoxSize;
        var batch = options.BatchSize;
        var batchBoxes = new float[batch * pixels];
        var batchTargets = new float[batch];
        var batchScores = new float[batch];
        var samples = trainIdx.SelectMany(i => Enumerable.Range(0, 4).Select(r => (box: i, rotation: r))).ToArray();
        var rng = DeterministicRandom.ForStream(options.Seed, 0x5417);

        var best = (float[])parameters.Clone();
        double bestAccuracy = -1, bestLoss = double.PositiveInfinity;
        var bestEpoch = 0;
        var reports = new List<EpochReport>();
        var watch = Stopwatch.StartNew();
        for (var epoch = 1; epoch <= options.Epochs; epoch++)
        {
            Shuffle(samples, rng);
            var lr = (float)options.LearningRateAt(epoch - 1);
            var momentum = (float)options.Momentum;
            double lossSum = 0;
            var epochStart = watch.Elapsed;
            for (var start = 0; start < samples.Length; start += batch)
            {
                var n = Math.Min(batch, samples.Length - start);
                for (var b = 0; b < n; b++)
                {
                    var (box, rotation) = samples[start + b];
                    BoxRotation.Rotate(data.Box(box), batchBoxes.AsSpan(b * pixels, pixels), arch.BoxSize, rotation);
                    batchTargets[b] = data.Label(box);
                }
                lossSum += backend.Gradient(parameters, batchBoxes.AsSpan(0, n * pixels), batchTargets.AsSpan(0, n), n, options.Loss, gradient, batchScores);
                // Momentum step on the mean gradient: v ← μv − η·g/n, θ ← θ + v.
                var scale = lr / n;
                for (var i = 0; i < parameters.Length; i++)
                {
                    velocity[i] = momentum * velocity[i] - scale * gradient[i];
                    parameters[i] += velocity[i];
                }
            }
            var (_, valLoss, valAccuracy) = Validate(parameters, data, valIdx);
            var isBest = valAccuracy > bestAccuracy || (valAccuracy == bestAccuracy && valLoss < bestLoss);
            if (isBest)
            {
                bestAccuracy = valAccuracy;
                bestLoss = valLoss;
                bestEpoch = epoch;
                Array.Copy(parameters, best, parameters.Length);
            }
            var epochTime = (watch.Elapsed - epochStart).TotalSeconds;
            var perEpoch = watch.Elapsed.TotalSeconds / epoch;
            var report = new EpochReport(epoch, options.Epochs, lossSum / samples.Length, valLoss, valAccuracy,
                samples.Length / Math.Max(epochTime, 1e-9), watch.Elapsed, TimeSpan.FromSeconds(perEpoch * (options.Epochs - epoch)), isBest);
            reports.Add(report);
            progress?.Invoke(report);
        }
        var (finalScores, _, _) = Validate(best, data, valIdx);
        var labels = valIdx.Select(data.Label).ToArray();
        var threshold = ThresholdSelection.BestF2(finalScores, labels);
        return new TrainingResult(best, bestEpoch, bestLoss, bestAccuracy, threshold, trainIdx.Length, valIdx.Length, reports);
    }

    /// <summary>Scores boxes as picking does: the mean of the network's output over the four rotations.</summary>
    public float[] ScoreRotationAveraged(float[] parameters, BoxSet data, IReadOnlyList<int> indices)
    {
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

    private (float[] scores, double loss, double accuracy) Validate(float[] parameters, BoxSet data, int[] valIdx)
    {
        var scores = ScoreRotationAveraged(parameters, data, valIdx);
        double loss = 0;
        var correct = 0;
        for (var i = 0; i < valIdx.Length; i++)
        {
            var t = data.Label(valIdx[i]);
            loss += Loss.Value(options.Loss, scores[i], t);
            if ((scores[i] >= 0.5f) == (t > 0.5f)) correct++;
        }
        return (scores, loss / valIdx.Length, correct / (double)valIdx.Length);
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
            Shuffle(group, rng);
            var nVal = (int)Math.Round(group.Length * fraction);
            if (group.Length >= 2 && fraction > 0) nVal = Math.Clamp(nVal, 1, group.Length - 1);
            validation.AddRange(group.Take(nVal));
            train.AddRange(group.Skip(nVal));
        }
        train.Sort();
        validation.Sort();
        return (train.ToArray(), validation.ToArray());
    }

    private static void Shuffle<T>(T[] items, DeterministicRandom rng)
    {
        for (var i = items.Length - 1; i > 0; i--)
        {
            var j = rng.NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
