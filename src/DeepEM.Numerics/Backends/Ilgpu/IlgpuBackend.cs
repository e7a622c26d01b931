using System.Runtime.InteropServices;
using DeepEM.Numerics.Layers;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Scoring;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace DeepEM.Numerics.Backends.Ilgpu;

/// <summary>
/// The ILGPU backend: the whole batch goes through each layer as one kernel launch (<see cref="IlgpuKernels"/>),
/// with every activation kept on the device between layers; only boxes, parameters and targets go up and
/// scores and gradients come down. On CUDA or OpenCL this is the GPU path; on ILGPU's CPU accelerator it
/// runs the same kernels (about 50× slower than the managed backend), which is how the tests check them here.
/// </summary>
public sealed class IlgpuBackend : IComputeBackend
{
    private readonly Context _context;
    private readonly Accelerator _accelerator;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvShape> _convForward;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ConvShape> _poolForward;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _denseForward;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvShape, int> _denseBackwardWeights;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _denseBackwardData;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvShape> _poolSigmoidBackward;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvShape> _convBackwardWeights;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ConvShape> _convBackwardBias;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvShape> _convBackwardData;

    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, DenseShape> _convTiled;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, DenseShape> _denseOutput;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, RotationShape> _placeRotations;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, RotationShape> _recombine;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, int, int, float> _maxima;

    private Buffers? _buffers;

    private IlgpuBackend(NetworkArchitecture architecture, Context context, Accelerator accelerator)
    {
        Architecture = architecture;
        _context = context;
        _accelerator = accelerator;
        _convForward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvShape>(IlgpuKernels.ConvForwardSigmoid);
        _poolForward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ConvShape>(IlgpuKernels.PoolForward);
        _denseForward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(IlgpuKernels.DenseForward);
        _denseBackwardWeights = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvShape, int>(IlgpuKernels.DenseBackwardWeights);
        _denseBackwardData = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(IlgpuKernels.DenseBackwardData);
        _poolSigmoidBackward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvShape>(IlgpuKernels.PoolSigmoidBackward);
        _convBackwardWeights = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvShape>(IlgpuKernels.ConvBackwardWeights);
        _convBackwardBias = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ConvShape>(IlgpuKernels.ConvBackwardBias);
        _convBackwardData = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvShape>(IlgpuKernels.ConvBackwardData);
        _convTiled = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, DenseShape>(IlgpuDenseKernels.ConvTiled);
        _placeRotations = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, RotationShape>(IlgpuDenseKernels.PlaceRotations);
        _recombine = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, RotationShape>(IlgpuDenseKernels.Recombine);
        _maxima = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, int, int, float>(IlgpuDenseKernels.Maxima);
        _denseOutput = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, DenseShape>(IlgpuDenseKernels.Output);
    }

    internal Accelerator Accelerator => _accelerator;

    /// <summary>One dense stage: a group per 16×16 tile of one dilation phase and block of six maps (<see cref="IlgpuDenseKernels.ConvTiled"/>).</summary>
    internal void ConvTiled(DenseShape shape, ArrayView<float> input, ArrayView<float> weights, ArrayView<float> bias, ArrayView<float> output)
    {
        int d = shape.Dilation, tile = IlgpuDenseKernels.TileSize;
        var columnTiles = ((shape.Stride + d - 1) / d + tile - 1) / tile;
        var rowTiles = ((shape.OutRows + d - 1) / d + tile - 1) / tile;
        var mapBlocks = (shape.OutChannels + IlgpuDenseKernels.MapsPerThread - 1) / IlgpuDenseKernels.MapsPerThread;
        var side = tile + shape.Kernel - 1;
        var config = new KernelConfig(new Index3D(columnTiles * d, rowTiles * d, mapBlocks),
            new Index3D(IlgpuDenseKernels.GroupWidth, IlgpuDenseKernels.GroupRows, 1), SharedMemoryConfig.RequestDynamic<float>(side * side));
        _convTiled(config, input, weights, bias, output, shape);
    }

    internal void DenseOutput(int n, ArrayView<float> act, ArrayView<float> weights, ArrayView<float> scores, DenseShape shape) =>
        _denseOutput(n, act, weights, scores, shape);

    internal void PlaceRotations(int n, ArrayView<float> image, ArrayView<float> tall, RotationShape shape) => _placeRotations(n, image, tall, shape);

    internal void Recombine(int n, ArrayView<float> tallScores, ArrayView<float> scores, RotationShape shape) => _recombine(n, tallScores, scores, shape);

    /// <summary>The view from <paramref name="offset"/> to its end.</summary>
    internal static ArrayView<float> From(ArrayView<float> view, long offset) => view.SubView(offset, view.Length - offset);

    internal void Maxima(ArrayView<float> scores, ArrayView<int> found, ArrayView<int> positions, ArrayView<float> values, int columns, int rows, float threshold) =>
        _maxima(columns * rows, scores, found, positions, values, columns, rows, threshold);

    public IDenseScorer CreateDenseScorer(float[] parameters) => new IlgpuDenseScorer(this, parameters);

    public NetworkArchitecture Architecture { get; }

    public string Device => $"ILGPU {_accelerator.AcceleratorType}: {_accelerator.Name}";

    public AcceleratorType AcceleratorType => _accelerator.AcceleratorType;

    /// <summary>The machine's GPUs in the order <c>--gpus</c> numbers them: the CUDA devices, else the OpenCL GPUs.</summary>
    public static IReadOnlyList<string> GpuNames()
    {
        if (!GpuDriverPresent) return [];
        try
        {
            using var context = Context.Create(builder => builder.Cuda().OpenCL());
            return Gpus(context).Select(d => d.Name).ToList();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return [];
        }
    }

    private static List<Device> Gpus(Context context)
    {
        var cuda = context.Devices.Where(d => d.AcceleratorType == AcceleratorType.Cuda).ToList();
        return cuda.Count > 0 ? cuda : context.Devices.Where(d => d.AcceleratorType == AcceleratorType.OpenCL).ToList();
    }

    /// <summary>
    /// Whether this process can load a CUDA or OpenCL driver library at all, by the names and search ILGPU's own imports
    /// use (nvcuda or cuda, opencl or OpenCL), or finds the CUDA library ILGPU loads by path under WSL. Without one there
    /// is no GPU to find, and building an ILGPU context to look costs a CPU-only node about a tenth of a CPU-second at
    /// every start (docs/benchmarks.md).
    /// </summary>
    public static bool GpuDriverPresent => DriverPresent.Value;

    private static readonly Lazy<bool> DriverPresent = new(() =>
        (OperatingSystem.IsWindows() ? new[] { "nvcuda", "opencl" } : ["cuda", "OpenCL"]).Any(CanLoad)
        || OperatingSystem.IsLinux() && File.Exists("/usr/lib/wsl/lib/libcuda.so"));

    private static bool CanLoad(string library)
    {
        if (!NativeLibrary.TryLoad(library, typeof(Context).Assembly, null, out var handle)) return false;
        NativeLibrary.Free(handle);
        return true;
    }

    /// <summary>GPU number <paramref name="index"/> (<see cref="GpuNames"/>), the first when null; null when there is no such GPU.</summary>
    public static IlgpuBackend? TryCreateGpu(NetworkArchitecture architecture, int? index = null)
    {
        if (!GpuDriverPresent) return null;
        Context? context = null;
        try
        {
            context = Context.Create(builder => builder.Cuda().OpenCL().EnableAlgorithms());
            var gpus = Gpus(context);
            var i = index ?? 0;
            if (i < 0 || i >= gpus.Count)
            {
                context.Dispose();
                return null;
            }
            return new IlgpuBackend(architecture, context, gpus[i].CreateAccelerator(context));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // No driver, no runtime library, or a device that refuses: there is no GPU to use.
            context?.Dispose();
            return null;
        }
    }

    /// <summary>
    /// The device's float32 peak without tensor cores (multiprocessors × float32 lanes each × 2 × clock), for CUDA devices;
    /// null for others. The lanes per multiprocessor follow NVIDIA's tables by compute capability.
    /// </summary>
    public double? Float32PeakGFlops => PeakTerms is { } t ? t.Multiprocessors * t.Lanes * 2.0 * t.ClockGHz : null;

    /// <summary>What <see cref="Float32PeakGFlops"/> is made of, for the check's report (the driver gives the clock in kHz).</summary>
    public (int Multiprocessors, int Lanes, double ClockGHz)? PeakTerms
    {
        get
        {
            if (_accelerator is not CudaAccelerator cuda) return null;
            var a = cuda.Architecture;
            var lanes = a.Major switch
            {
                6 => a.Minor == 0 ? 64 : 128,
                7 => 64,
                8 => a.Minor == 0 ? 64 : 128,
                _ => 128,
            };
            return (cuda.NumMultiprocessors, lanes, cuda.ClockRate / 1e6);
        }
    }

    /// <summary>ILGPU's CPU accelerator: the GPU kernels run on the host's threads (for tests and checks).</summary>
    public static IlgpuBackend CreateCpu(NetworkArchitecture architecture)
    {
        // Warps of 32 and groups of up to 128 threads, on one multiprocessor per core: the tiled kernels run with the group
        // shape they have on a GPU (16 × 8), while the other kernels' groups stay small (each emulated thread of a group
        // is a thread of the host). The default CPU device allows groups of 16 threads only.
        var context = Context.Create(builder => builder.CPU(new CPUDevice(32, 4, Environment.ProcessorCount)).EnableAlgorithms());
        var device = context.Devices.First(d => d.AcceleratorType == AcceleratorType.CPU);
        return new IlgpuBackend(architecture, context, device.CreateAccelerator(context));
    }

    public void Score(ReadOnlySpan<float> parameters, ReadOnlySpan<float> boxes, int count, Span<float> scores)
    {
        var buffers = Prepare(count);
        buffers.Parameters.View.SubView(0, parameters.Length).CopyFromCPU(parameters.ToArray());
        buffers.Boxes.View.SubView(0, boxes.Length).CopyFromCPU(boxes.ToArray());
        Forward(buffers, count);
        var result = new float[count];
        buffers.Scores.View.SubView(0, count).CopyToCPU(result);
        result.CopyTo(scores);
    }

    public double Gradient(ReadOnlySpan<float> parameters, ReadOnlySpan<float> boxes, ReadOnlySpan<float> targets, int count,
        LossKind loss, Span<float> gradient, Span<float> scores)
    {
        // The chunks' gradients added in chunk order, as the managed backend adds them.
        var n = Architecture.ParameterCount;
        var chunks = GradientChunks.Count(count);
        var perChunk = new float[chunks * n];
        var losses = new double[chunks];
        var y = Backward(parameters, boxes, targets, count, loss, perChunk, losses);
        gradient[..n].Clear();
        double total = 0;
        for (var c = 0; c < chunks; c++)
        {
            var g = perChunk.AsSpan(c * n, n);
            for (var i = 0; i < n; i++) gradient[i] += g[i];
            total += losses[c];
        }
        if (scores.Length >= count) y.CopyTo(scores);
        return total;
    }

    /// <summary>The whole batch in one pass (one launch per layer, hundreds of boxes at once), each chunk's weight gradient summed on its own.</summary>
    public void ChunkGradients(ReadOnlySpan<float> parameters, ReadOnlySpan<float> boxes, ReadOnlySpan<float> targets, int count,
        LossKind loss, Span<float> gradients, Span<double> losses) =>
        Backward(parameters, boxes, targets, count, loss, gradients, losses);

    private float[] Backward(ReadOnlySpan<float> parameters, ReadOnlySpan<float> boxes, ReadOnlySpan<float> targets, int count,
        LossKind loss, Span<float> gradients, Span<double> losses)
    {
        var arch = Architecture;
        var layout = arch.Layout;
        var chunks = GradientChunks.Count(count);
        var buffers = Prepare(count);
        buffers.Parameters.View.SubView(0, parameters.Length).CopyFromCPU(parameters.ToArray());
        buffers.Boxes.View.SubView(0, boxes.Length).CopyFromCPU(boxes.ToArray());
        Forward(buffers, count);
        var y = new float[count];
        buffers.Scores.View.SubView(0, count).CopyToCPU(y);
        // The loss and its derivative at the output unit are a few floats per box: done on the host.
        var dz = new float[count];
        for (var c = 0; c < chunks; c++)
        {
            double l = 0;
            for (var b = c * GradientChunks.Size; b < Math.Min(count, (c + 1) * GradientChunks.Size); b++)
            {
                l += Loss.Value(loss, y[b], targets[b]);
                dz[b] = Loss.GradientAtPreActivation(loss, y[b], targets[b]);
            }
            losses[c] = l;
        }
        buffers.Dz.View.SubView(0, count).CopyFromCPU(dz);

        var p = buffers.Parameters.View;
        var g = buffers.Gradient.View;
        var n = arch.DenseInputs;
        var last = arch.Stages.Count - 1;
        var dense = p.SubView(layout.DenseWeightOffset, n + 1);
        _denseBackwardWeights(chunks * (n + 1), buffers.Pooled[last].View, buffers.Dz.View, From(g, layout.DenseWeightOffset), Shape(last, count), n);
        _denseBackwardData(count * n, buffers.Dz.View, dense, buffers.DPooled[last].View, n);
        for (var s = last; s >= 0; s--)
        {
            var shape = Shape(s, count);
            var st = arch.Stages[s];
            var act = buffers.Activations[s].View;
            var dConv = buffers.DConv[s].View;
            _poolSigmoidBackward(count * st.OutChannels * st.ConvHeight * st.ConvWidth, buffers.DPooled[s].View, act, dConv, shape);
            var input = s == 0 ? buffers.Boxes.View : buffers.Pooled[s - 1].View;
            _convBackwardWeights(chunks * st.WeightCount, input, dConv, From(g, layout.WeightOffset(s)), shape);
            _convBackwardBias(chunks * st.OutChannels, dConv, From(g, layout.BiasOffset(s)), shape);
            if (s > 0)
            {
                _convBackwardData(count * st.InChannels * st.InHeight * st.InWidth, dConv, p.SubView(layout.WeightOffset(s), st.WeightCount),
                    buffers.DPooled[s - 1].View, shape);
            }
        }
        var result = new float[chunks * arch.ParameterCount];
        g.SubView(0, result.Length).CopyToCPU(result);
        result.CopyTo(gradients);
        return y;
    }

    private void Forward(Buffers buffers, int count)
    {
        var arch = Architecture;
        var layout = arch.Layout;
        var p = buffers.Parameters.View;
        var input = buffers.Boxes.View;
        for (var s = 0; s < arch.Stages.Count; s++)
        {
            var st = arch.Stages[s];
            var shape = Shape(s, count);
            _convForward(count * st.OutChannels * st.ConvHeight * st.ConvWidth, input,
                p.SubView(layout.WeightOffset(s), st.WeightCount), p.SubView(layout.BiasOffset(s), st.OutChannels),
                buffers.Activations[s].View, shape);
            _poolForward(count * st.OutChannels * st.OutHeight * st.OutWidth, buffers.Activations[s].View, buffers.Pooled[s].View, shape);
            input = buffers.Pooled[s].View;
        }
        _denseForward(count, input, p.SubView(layout.DenseWeightOffset, arch.DenseInputs + 1), buffers.Scores.View, arch.DenseInputs);
        _accelerator.Synchronize();
    }

    private ConvShape Shape(int stage, int batch)
    {
        var st = Architecture.Stages[stage];
        return new ConvShape
        {
            Batch = batch,
            InChannels = st.InChannels,
            OutChannels = st.OutChannels,
            Kernel = st.Kernel,
            InHeight = st.InHeight,
            InWidth = st.InWidth,
            OutHeight = st.ConvHeight,
            OutWidth = st.ConvWidth,
            Pool = st.Pool,
            PooledHeight = st.OutHeight,
            PooledWidth = st.OutWidth,
            Activation = (int)Architecture.Activation,
            ChunkSize = GradientChunks.Size,
            GradientStride = Architecture.ParameterCount,
        };
    }

    /// <summary>Device buffers for batches of up to <paramref name="count"/> boxes, grown when a larger batch comes.</summary>
    private Buffers Prepare(int count)
    {
        if (_buffers is { } b && b.Capacity >= count) return b;
        _buffers?.Dispose();
        _buffers = new Buffers(_accelerator, Architecture, Math.Max(count, 1));
        return _buffers;
    }

    public void Dispose()
    {
        _buffers?.Dispose();
        _accelerator.Dispose();
        _context.Dispose();
    }

    private sealed class Buffers : IDisposable
    {
        public Buffers(Accelerator accelerator, NetworkArchitecture arch, int capacity)
        {
            Capacity = capacity;
            Parameters = accelerator.Allocate1D<float>(arch.ParameterCount);
            Gradient = accelerator.Allocate1D<float>((long)GradientChunks.Count(capacity) * arch.ParameterCount);
            Boxes = accelerator.Allocate1D<float>((long)capacity * arch.BoxSize * arch.BoxSize);
            Scores = accelerator.Allocate1D<float>(capacity);
            Dz = accelerator.Allocate1D<float>(capacity);
            Activations = arch.Stages.Select(s => accelerator.Allocate1D<float>((long)capacity * s.OutChannels * s.ConvHeight * s.ConvWidth)).ToArray();
            DConv = arch.Stages.Select(s => accelerator.Allocate1D<float>((long)capacity * s.OutChannels * s.ConvHeight * s.ConvWidth)).ToArray();
            Pooled = arch.Stages.Select(s => accelerator.Allocate1D<float>((long)capacity * s.OutChannels * s.OutHeight * s.OutWidth)).ToArray();
            DPooled = arch.Stages.Select(s => accelerator.Allocate1D<float>((long)capacity * s.OutChannels * s.OutHeight * s.OutWidth)).ToArray();
        }

        public int Capacity { get; }
        public MemoryBuffer1D<float, Stride1D.Dense> Parameters { get; }
        public MemoryBuffer1D<float, Stride1D.Dense> Gradient { get; }
        public MemoryBuffer1D<float, Stride1D.Dense> Boxes { get; }
        public MemoryBuffer1D<float, Stride1D.Dense> Scores { get; }
        public MemoryBuffer1D<float, Stride1D.Dense> Dz { get; }
        public MemoryBuffer1D<float, Stride1D.Dense>[] Activations { get; }
        public MemoryBuffer1D<float, Stride1D.Dense>[] DConv { get; }
        public MemoryBuffer1D<float, Stride1D.Dense>[] Pooled { get; }
        public MemoryBuffer1D<float, Stride1D.Dense>[] DPooled { get; }

        public void Dispose()
        {
            foreach (var b in new[] { Parameters, Gradient, Boxes, Scores, Dz }.Concat(Activations).Concat(DConv).Concat(Pooled).Concat(DPooled))
            {
                b.Dispose();
            }
        }
    }
}
