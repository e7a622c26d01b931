using DeepEM.Imaging.Randomness;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.Backends.Managed;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Scoring;
using DeepEM.Numerics.Training;

namespace DeepEM.Numerics.Tests;

/// <summary>
/// Batch normalisation (the <c>deepem-48-bn</c> preset) against a float64 reference: the chunk's loss and its gradient
/// by central finite differences of that reference, and the folded network against the normalised one, box by box
/// and densely, on both backends.
/// </summary>
public class BatchNormTests
{
    private static readonly NetworkArchitecture Arch = Presets.Create(Presets.BatchNormRelu, 32);

    private static (float[] parameters, float[] boxes, float[] targets) Chunk(int seed, int count = GradientChunks.Size)
    {
        var rng = new DeterministicRandom((ulong)seed);
        var parameters = WeightInitialization.Create(Arch, (ulong)seed);
        var layout = Arch.Layout;
        // Scales and shifts away from 1 and 0, and biases too, so that every term of the gradient is exercised.
        for (var s = 0; s < Arch.Stages.Count; s++)
        {
            var maps = Arch.Stages[s].OutChannels;
            for (var c = 0; c < maps; c++)
            {
                parameters[layout.ScaleOffset(s) + c] = (float)(0.6 + 0.8 * rng.NextDouble());
                parameters[layout.ShiftOffset(s, maps) + c] = (float)(0.4 * rng.NextGaussian());
                parameters[layout.BiasOffset(s) + c] = (float)(0.2 * rng.NextGaussian());
            }
        }
        var pixels = Arch.BoxSize * Arch.BoxSize;
        var boxes = Enumerable.Range(0, count * pixels).Select(_ => (float)rng.NextGaussian()).ToArray();
        // Particles: a bright disc, so that labels and pixels are related.
        for (var b = 0; b < count; b += 2)
            for (var y = 0; y < Arch.BoxSize; y++)
                for (var x = 0; x < Arch.BoxSize; x++)
                    if ((x - 16) * (x - 16) + (y - 16) * (y - 16) < 60) boxes[b * pixels + y * Arch.BoxSize + x] += 1.5f;
        var targets = Enumerable.Range(0, count).Select(b => b % 2 == 0 ? 1f : 0f).ToArray();
        return (parameters, boxes, targets);
    }

    /// <summary>The summed loss of a chunk with every map normalised over the chunk, in float64.</summary>
    private static double ReferenceLoss(double[] p, float[] boxes, float[] targets, LossKind loss) =>
        ReferenceScores(p, boxes, targets.Length).Select((score, b) => ReferenceNetwork.Loss(loss, score, targets[b])).Sum();

    /// <summary>Each box's score with every map normalised over the <paramref name="n"/> boxes, in float64.</summary>
    private static double[] ReferenceScores(double[] p, float[] boxes, int n)
    {
        var layout = Arch.Layout;
        var pixels = Arch.BoxSize * Arch.BoxSize;
        var current = Enumerable.Range(0, n).Select(b => new[] { boxes.AsSpan(b * pixels, pixels).ToArray().Select(v => (double)v).ToArray() }).ToArray();
        for (var s = 0; s < Arch.Stages.Count; s++)
        {
            var st = Arch.Stages[s];
            var w = p.AsSpan(layout.WeightOffset(s), st.WeightCount).ToArray();
            var bias = p.AsSpan(layout.BiasOffset(s), st.OutChannels).ToArray();
            var conv = current.Select(c => ReferenceNetwork.ConvForward(c, st.InHeight, st.InWidth, w, bias, st.OutChannels, st.Kernel)).ToArray();
            for (var c = 0; c < st.OutChannels; c++)
            {
                var values = conv.SelectMany(box => box[c]).ToArray();
                var mean = values.Average();
                var variance = values.Select(v => (v - mean) * (v - mean)).Average();
                var inv = 1 / Math.Sqrt(variance + Layers.BatchNorm.Epsilon);
                var (g, b0) = (p[layout.ScaleOffset(s) + c], p[layout.ShiftOffset(s, st.OutChannels) + c]);
                foreach (var box in conv)
                    for (var i = 0; i < box[c].Length; i++) box[c][i] = ReferenceNetwork.Activate(Arch.Activation, g * (box[c][i] - mean) * inv + b0);
            }
            current = conv.Select(box => ReferenceNetwork.Pool(box, st.ConvHeight, st.ConvWidth, st.Pool)).ToArray();
        }
        var scores = new double[n];
        for (var b = 0; b < n; b++)
        {
            var flat = current[b].SelectMany(x => x).ToArray();
            var z = p[layout.DenseBiasOffset];
            for (var i = 0; i < flat.Length; i++) z += flat[i] * p[layout.DenseWeightOffset + i];
            scores[b] = ReferenceNetwork.Sigmoid(z);
        }
        return scores;
    }

    [Theory]
    [InlineData(LossKind.SquaredError, 3)]
    [InlineData(LossKind.CrossEntropy, 4)]
    public void Chunk_gradient_matches_finite_differences_of_the_float64_reference(LossKind loss, int seed)
    {
        var (parameters, boxes, targets) = Chunk(seed);
        using var backend = new ManagedBackend(Arch);
        var gradient = new float[Arch.ParameterCount];
        var scores = new float[targets.Length];
        var value = backend.Gradient(parameters, boxes, targets, targets.Length, loss, gradient, scores);
        var p = parameters.Select(v => (double)v).ToArray();
        var reference = ReferenceLoss(p, boxes, targets, loss);
        Assert.True(Math.Abs(value - reference) <= 1e-5 * Math.Abs(reference), $"loss {value} against {reference}");

        var layout = Arch.Layout;
        var checkedAt = new List<int>();
        for (var s = 0; s < Arch.Stages.Count; s++)
        {
            var maps = Arch.Stages[s].OutChannels;
            checkedAt.AddRange(Enumerable.Range(0, Arch.Stages[s].WeightCount).Where(i => i % 37 == 0).Select(i => layout.WeightOffset(s) + i));
            checkedAt.AddRange(Enumerable.Range(0, maps).Select(c => layout.BiasOffset(s) + c));
            checkedAt.AddRange(Enumerable.Range(0, 2 * maps).Select(c => layout.ScaleOffset(s) + c));
        }
        checkedAt.AddRange(Enumerable.Range(0, Arch.DenseInputs).Where(i => i % 5 == 0).Select(i => layout.DenseWeightOffset + i));
        checkedAt.Add(layout.DenseBiasOffset);
        var scale = gradient.Max(g => Math.Abs(g));
        Assert.True(scale > 1e-3, $"gradient too small to test ({scale})");
        // Small: a step of 1e-5 moves some of the 10,000 rectifiers of a map across their kink (2% off for one scale).
        const double h = 1e-6;
        foreach (var i in checkedAt)
        {
            var orig = p[i];
            p[i] = orig + h; var up = ReferenceLoss(p, boxes, targets, loss);
            p[i] = orig - h; var down = ReferenceLoss(p, boxes, targets, loss);
            p[i] = orig;
            var numeric = (up - down) / (2 * h);
            Assert.True(Math.Abs(gradient[i] - numeric) <= 1e-4 * scale + 1e-3 * Math.Abs(numeric),
                $"parameter {i}: analytic {gradient[i]:E5}, finite difference {numeric:E5} (largest gradient {scale:E3})");
        }
        // A convolution's bias is cancelled by the normalisation that follows it: its gradient is zero.
        for (var s = 0; s < Arch.Stages.Count; s++)
            for (var c = 0; c < Arch.Stages[s].OutChannels; c++)
                Assert.True(Math.Abs(gradient[layout.BiasOffset(s) + c]) <= 1e-4 * scale, $"stage {s} bias {c}: {gradient[layout.BiasOffset(s) + c]}");
    }

    [Fact]
    public void A_network_folded_with_one_chunk_scores_what_training_scored_that_chunk_and_the_float64_reference()
    {
        // Training normalises each map over its 16-box chunk; the network folded with the statistics of the same 16 boxes
        // must score them as training did, and as the float64 reference does.
        var (parameters, boxes, targets) = Chunk(11);
        using var backend = new ManagedBackend(Arch);
        var trained = new float[targets.Length];
        backend.Gradient(parameters, boxes, targets, targets.Length, LossKind.CrossEntropy, new float[Arch.ParameterCount], trained);
        var plain = Arch.WithoutBatchNorm();
        var folded = backend.FoldBatchNorm(parameters, boxes, targets.Length)[..plain.ParameterCount];
        using var managed = new ManagedBackend(plain);
        var byFolded = new float[targets.Length];
        managed.Score(folded, boxes, targets.Length, byFolded);
        var reference = ReferenceScores(parameters.Select(v => (double)v).ToArray(), boxes, targets.Length);
        for (var b = 0; b < targets.Length; b++)
        {
            Assert.True(Math.Abs(trained[b] - reference[b]) <= 1e-5, $"box {b}: training forward {trained[b]} against the reference {reference[b]}");
            Assert.True(Math.Abs(byFolded[b] - reference[b]) <= 1e-5, $"box {b}: folded {byFolded[b]} against the reference {reference[b]}");
        }
        Assert.True(reference.Max() - reference.Min() > 0.05, $"scores should differ from box to box ({reference.Min()}..{reference.Max()})");
    }

    [Fact]
    public void Folded_network_scores_what_the_normalised_one_does_box_by_box_and_densely_on_both_backends()
    {
        var (parameters, boxes, targets) = Chunk(7, count: 64);
        using var backend = new ManagedBackend(Arch);
        // Scoring with batch normalisation normalises by the statistics of the boxes scored together.
        var normalised = new float[targets.Length];
        backend.Score(parameters, boxes, targets.Length, normalised);
        var folded = backend.FoldBatchNorm(parameters, boxes, targets.Length);
        var plain = Arch.WithoutBatchNorm();
        var plainParameters = folded[..plain.ParameterCount];
        Assert.False(plain.BatchNorm);
        Assert.Equal(Presets.DefaultRelu, plain.Preset);
        Assert.Equal(Arch.PlainParameterCount, plain.ParameterCount);
        using var managed = new ManagedBackend(plain);
        var byFolded = new float[targets.Length];
        managed.Score(plainParameters, boxes, targets.Length, byFolded);
        Assert.Equal(normalised, byFolded);
        Assert.True(byFolded.Distinct().Count() > targets.Length / 2, "scores should differ from box to box");

        using var ilgpu = BackendFactory.Create(plain, DeviceChoice.IlgpuCpu);
        var onIlgpu = new float[targets.Length];
        ilgpu.Score(plainParameters, boxes, targets.Length, onIlgpu);
        for (var b = 0; b < targets.Length; b++) Assert.True(Math.Abs(onIlgpu[b] - byFolded[b]) <= 1e-5, $"box {b}: ILGPU {onIlgpu[b]} managed {byFolded[b]}");

        // Dense scoring of an image: every position equals the box-by-box score of the folded network (rotation-averaged).
        const int w = 40, h = 36;
        var rng = new DeterministicRandom(9);
        var image = Enumerable.Range(0, w * h).Select(_ => (float)rng.NextGaussian()).ToArray();
        foreach (var device in new[] { DeviceChoice.Cpu, DeviceChoice.IlgpuCpu })
        {
            using var b = BackendFactory.Create(plain, device);
            using var dense = b.CreateDenseScorer(plainParameters);
            var map = dense.Score(image, w, h);
            var size = plain.BoxSize;
            var box = new float[size * size];
            var rotated = new float[4 * size * size];
            var four = new float[4];
            foreach (var (x0, y0) in new[] { (0, 0), (8, 4), (w - size, h - size) })
            {
                for (var y = 0; y < size; y++) image.AsSpan((y0 + y) * w + x0, size).CopyTo(box.AsSpan(y * size, size));
                for (var r = 0; r < 4; r++) BoxRotation.Rotate(box, rotated.AsSpan(r * size * size, size * size), size, r);
                managed.Score(plainParameters, rotated, 4, four);
                var expected = four.Average();
                Assert.True(Math.Abs(map[x0, y0] - expected) <= 1e-5, $"{device} at ({x0}, {y0}): dense {map[x0, y0]} box {expected}");
            }
        }
    }

    [Fact]
    public void A_batch_normalised_network_refuses_the_ILGPU_backend_in_one_message() =>
        Assert.Contains("trains on the CPU backend only", Assert.Throws<ArgumentException>(() => BackendFactory.Create(Arch, DeviceChoice.IlgpuCpu)).Message);
}
