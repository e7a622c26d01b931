using DeepEM.Numerics.Backends.Managed;
using DeepEM.Numerics.Network;

namespace DeepEM.Numerics.Tests;

/// <summary>The fast CPU backend against the float64 reference: scores and gradients, layer by layer.</summary>
public class ManagedBackendTests
{
    public static TheoryData<string> Architectures => ["small", "small-relu", Presets.Default, "deepem-48@64", Presets.DefaultRelu];

    internal static NetworkArchitecture Build(string name) => name switch
    {
        "small" => TestData.Small(),
        "small-relu" => TestData.Small(Activation.Relu),
        "deepem-48@64" => Presets.Create(Presets.Default, 64),
        // paper-klh's features in a box small enough for the CPU accelerator: a wide first kernel, pooling of 3, six maps.
        "large-kernel" => new NetworkArchitecture("test-large-kernel", 40, [new(6, 15, 3), new(12, 3, 2), new(6, 2, 1)]),
        _ => Presets.Create(name),
    };

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Scores_match_the_float64_reference(string name)
    {
        var arch = Build(name);
        var parameters = TestData.Parameters(arch, 11);
        const int count = 5;
        var boxes = TestData.Boxes(count, arch.BoxSize, 12);
        var scores = new float[count];
        using var backend = new ManagedBackend(arch);
        backend.Score(parameters, boxes, count, scores);
        var p64 = TestData.ToDouble(parameters);
        for (var b = 0; b < count; b++)
        {
            var box = TestData.ToDouble(boxes.AsSpan(b * arch.BoxSize * arch.BoxSize, arch.BoxSize * arch.BoxSize));
            var expected = ReferenceNetwork.Forward(arch, p64, box).Y;
            Assert.InRange(expected, 0.02, 0.98); // not saturated: the comparison means something
            Assert.True(Math.Abs(scores[b] - expected) < 1e-4 * expected, $"box {b}: {scores[b]} vs {expected}");
        }
    }

    [Fact]
    public void Paper_klh_scores_match_the_float64_reference()
    {
        var arch = Presets.Create(Presets.PaperKlh);
        Assert.Equal(972, arch.DenseInputs);
        var parameters = TestData.Parameters(arch, 21);
        var boxes = TestData.Boxes(1, arch.BoxSize, 22);
        var scores = new float[1];
        using var backend = new ManagedBackend(arch);
        backend.Score(parameters, boxes, 1, scores);
        var expected = ReferenceNetwork.Forward(arch, TestData.ToDouble(parameters), TestData.ToDouble(boxes)).Y;
        Assert.True(Math.Abs(scores[0] - expected) < 1e-4 * expected, $"{scores[0]} vs {expected}");
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Gradients_of_every_layer_match_the_float64_reference(string name)
    {
        var arch = Build(name);
        var parameters = TestData.Parameters(arch, 31);
        const int count = 19; // crosses a chunk boundary
        var boxes = TestData.Boxes(count, arch.BoxSize, 32);
        var targets = Enumerable.Range(0, count).Select(i => i % 3 == 0 ? 1f : 0f).ToArray();
        var gradient = new float[arch.ParameterCount];
        using var backend = new ManagedBackend(arch);
        var loss = backend.Gradient(parameters, boxes, targets, count, LossKind.SquaredError, gradient, new float[count]);

        var p64 = TestData.ToDouble(parameters);
        var expected = new double[arch.ParameterCount];
        double expectedLoss = 0;
        var pixels = arch.BoxSize * arch.BoxSize;
        for (var b = 0; b < count; b++)
        {
            var box = TestData.ToDouble(boxes.AsSpan(b * pixels, pixels));
            var g = ReferenceNetwork.Gradient(arch, p64, box, targets[b], LossKind.SquaredError);
            for (var i = 0; i < g.Length; i++) expected[i] += g[i];
            expectedLoss += ReferenceNetwork.Loss(LossKind.SquaredError, ReferenceNetwork.Forward(arch, p64, box).Y, targets[b]);
        }
        Assert.Equal(expectedLoss, loss, 1e-4 * expectedLoss);
        var layout = arch.Layout;
        for (var s = 0; s < arch.Stages.Count; s++)
        {
            var st = arch.Stages[s];
            var w = TestData.RelativeError(gradient.AsSpan(layout.WeightOffset(s), st.WeightCount), expected.AsSpan(layout.WeightOffset(s), st.WeightCount));
            var bias = TestData.RelativeError(gradient.AsSpan(layout.BiasOffset(s), st.OutChannels), expected.AsSpan(layout.BiasOffset(s), st.OutChannels));
            Assert.True(w < 1e-4, $"stage {s + 1} kernels: relative error {w:E2}");
            Assert.True(bias < 1e-4, $"stage {s + 1} biases: relative error {bias:E2}");
        }
        var dense = TestData.RelativeError(gradient.AsSpan(layout.DenseWeightOffset, arch.DenseInputs + 1), expected.AsSpan(layout.DenseWeightOffset, arch.DenseInputs + 1));
        Assert.True(dense < 1e-4, $"output unit: relative error {dense:E2}");
        Assert.True(TestData.RelativeError(gradient, expected) < 1e-4);
    }

    [Fact]
    public void Gradient_bytes_do_not_depend_on_the_number_of_threads()
    {
        var arch = Presets.Create(Presets.Default);
        var parameters = TestData.Parameters(arch, 41);
        const int count = 50;
        var boxes = TestData.Boxes(count, arch.BoxSize, 42);
        var targets = Enumerable.Range(0, count).Select(i => (float)(i % 2)).ToArray();
        var one = new float[arch.ParameterCount];
        var two = new float[arch.ParameterCount];
        using (var b1 = new ManagedBackend(arch, threads: 1)) b1.Gradient(parameters, boxes, targets, count, LossKind.CrossEntropy, one, new float[count]);
        using (var b2 = new ManagedBackend(arch, threads: 2)) b2.Gradient(parameters, boxes, targets, count, LossKind.CrossEntropy, two, new float[count]);
        Assert.Equal(one, two);
        Assert.Contains(one, v => v != 0);
    }
}
