using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.Backends.Ilgpu;
using DeepEM.Numerics.Backends.Managed;
using DeepEM.Numerics.Network;

namespace DeepEM.Numerics.Tests;

/// <summary>
/// The ILGPU kernels, run on ILGPU's CPU accelerator (no GPU here) on small shapes, against the float64
/// reference and the managed backend: scores and gradients within 1e-4 relative.
/// </summary>
public class IlgpuBackendTests
{
    [Theory]
    [InlineData("small")]
    [InlineData("small-relu")]
    [InlineData(Presets.Default)]
    public void Scores_and_gradients_agree_with_the_reference_and_the_managed_backend(string name)
    {
        var arch = ManagedBackendTests.Build(name);
        var parameters = TestData.Parameters(arch, 51);
        const int count = 4;
        var boxes = TestData.Boxes(count, arch.BoxSize, 52);
        float[] targets = [1, 0, 1, 0];

        using var ilgpu = IlgpuBackend.CreateCpu(arch);
        Assert.Contains("CPU", ilgpu.Device);
        using var managed = new ManagedBackend(arch);
        var scores = new float[count];
        ilgpu.Score(parameters, boxes, count, scores);
        var managedScores = new float[count];
        managed.Score(parameters, boxes, count, managedScores);

        var p64 = TestData.ToDouble(parameters);
        var pixels = arch.BoxSize * arch.BoxSize;
        var expected = new double[arch.ParameterCount];
        for (var b = 0; b < count; b++)
        {
            var box = TestData.ToDouble(boxes.AsSpan(b * pixels, pixels));
            var y = ReferenceNetwork.Forward(arch, p64, box).Y;
            Assert.True(Math.Abs(scores[b] - y) < 1e-4 * y, $"box {b}: ILGPU {scores[b]} vs reference {y}");
            Assert.True(Math.Abs(scores[b] - managedScores[b]) < 1e-4 * y, $"box {b}: ILGPU {scores[b]} vs managed {managedScores[b]}");
            var g = ReferenceNetwork.Gradient(arch, p64, box, targets[b], LossKind.SquaredError);
            for (var i = 0; i < g.Length; i++) expected[i] += g[i];
        }

        var gradient = new float[arch.ParameterCount];
        ilgpu.Gradient(parameters, boxes, targets, count, LossKind.SquaredError, gradient, new float[count]);
        var managedGradient = new float[arch.ParameterCount];
        managed.Gradient(parameters, boxes, targets, count, LossKind.SquaredError, managedGradient, new float[count]);
        var layout = arch.Layout;
        for (var s = 0; s < arch.Stages.Count; s++)
        {
            var st = arch.Stages[s];
            var err = TestData.RelativeError(gradient.AsSpan(layout.WeightOffset(s), st.WeightCount), expected.AsSpan(layout.WeightOffset(s), st.WeightCount));
            Assert.True(err < 1e-4, $"stage {s + 1} kernels: relative error {err:E2}");
            var berr = TestData.RelativeError(gradient.AsSpan(layout.BiasOffset(s), st.OutChannels), expected.AsSpan(layout.BiasOffset(s), st.OutChannels));
            Assert.True(berr < 1e-4, $"stage {s + 1} biases: relative error {berr:E2}");
        }
        var dense = TestData.RelativeError(gradient.AsSpan(layout.DenseWeightOffset, arch.DenseInputs + 1), expected.AsSpan(layout.DenseWeightOffset, arch.DenseInputs + 1));
        Assert.True(dense < 1e-4, $"output unit: relative error {dense:E2}");
        var vsManaged = TestData.RelativeError(gradient, TestData.ToDouble(managedGradient));
        Assert.True(vsManaged < 1e-4, $"ILGPU vs managed gradient: relative error {vsManaged:E2}");
    }

    [Fact]
    public void A_batch_of_several_chunks_in_one_pass_gives_each_chunk_the_managed_gradient()
    {
        var arch = TestData.Small();
        var parameters = TestData.Parameters(arch, 53);
        const int count = 2 * GradientChunks.Size + 5; // two whole chunks and a short one
        var boxes = TestData.Boxes(count, arch.BoxSize, 54);
        var targets = Enumerable.Range(0, count).Select(i => (float)(i % 3 == 0 ? 1 : 0)).ToArray();
        var n = arch.ParameterCount;
        var chunks = GradientChunks.Count(count);
        using var ilgpu = IlgpuBackend.CreateCpu(arch);
        using var managed = new ManagedBackend(arch);
        var gpu = new float[chunks * n];
        var gpuLosses = new double[chunks];
        ilgpu.ChunkGradients(parameters, boxes, targets, count, LossKind.CrossEntropy, gpu, gpuLosses);
        var cpu = new float[chunks * n];
        var cpuLosses = new double[chunks];
        managed.ChunkGradients(parameters, boxes, targets, count, LossKind.CrossEntropy, cpu, cpuLosses);
        for (var c = 0; c < chunks; c++)
        {
            var err = TestData.RelativeError(gpu.AsSpan(c * n, n), TestData.ToDouble(cpu.AsSpan(c * n, n)));
            Assert.True(err < 1e-4, $"chunk {c}: relative error {err:E2}");
            Assert.True(Math.Abs(gpuLosses[c] - cpuLosses[c]) < 1e-4 * cpuLosses[c], $"chunk {c}: loss {gpuLosses[c]} vs {cpuLosses[c]}");
            Assert.True(cpu.AsSpan(c * n, n).ToArray().Max(Math.Abs) > 1e-4f, $"chunk {c}: a gradient of zeros would prove nothing");
        }
    }

    /// <summary>
    /// The driver check that spares a CPU-only node ILGPU's context agrees with that context: where no CUDA or OpenCL
    /// library loads, ILGPU finds no GPU either (and where one loads, the context is asked as before).
    /// </summary>
    [Fact]
    public void Without_a_driver_library_ilgpu_finds_no_gpu_either()
    {
        using var context = ILGPU.Context.Create(builder => builder.Cuda().OpenCL());
        var gpus = context.Devices.Count(d => d.AcceleratorType is ILGPU.Runtime.AcceleratorType.Cuda or ILGPU.Runtime.AcceleratorType.OpenCL);
        if (!IlgpuBackend.GpuDriverPresent)
        {
            Assert.Equal(0, gpus);
            Assert.Empty(IlgpuBackend.GpuNames());
            Assert.Null(IlgpuBackend.TryCreateGpu(ManagedBackendTests.Build("small")));
        }
        else
        {
            Assert.Equal(gpus > 0, IlgpuBackend.GpuNames().Count > 0);
        }
    }
}
