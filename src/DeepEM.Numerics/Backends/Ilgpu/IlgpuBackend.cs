using DeepEM.Numerics.Layers;
using DeepEM.Numerics.Network;
using ILGPU;
using ILGPU.Algorithms;
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
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> _denseBackwardWeights;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _denseBackwardData;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvShape> _poolSigmoidBackward;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvShape> _convBackwardWeights;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ConvShape> _convBackwardBias;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvShape> _convBackwardData;

    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, DenseShape> _denseConv;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, DenseShape> _densePool;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, DenseShape> _denseOutput;

    private Buffers? _buffers;

    private IlgpuBackend(NetworkArchitecture architecture, Context context, Accelerator accelerator)
    {
        Architecture = architecture;
        _context = context;
        _accelerator = accelerator;
        _convForward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvShape>(IlgpuKernels.ConvForwardSigmoid);
        _poolForward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ConvShape>(IlgpuKernels.PoolForward);
        _denseForward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(IlgpuKernels.DenseForward);
        _denseBackwardWeights = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(IlgpuKernels.DenseBackwardWeights);
        _denseBackwardData = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(IlgpuKernels.DenseBackwardData);
        _poolSigmoidBackward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvShape>(IlgpuKernels.PoolSigmoidBackward);
        _convBackwardWeights = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvShape>(IlgpuKernels.ConvBackwardWeights);
        _convBackwardBias = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ConvShape>(IlgpuKernels.ConvBackwardBias);
        _convBackwardData = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvShape>(IlgpuKernels.ConvBackwardData);
        _denseConv = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, DenseShape>(IlgpuDenseKernels.ConvSigmoid);
        _densePool = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, DenseShape>(IlgpuDenseKernels.Pool);
        _denseOutput = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, DenseShape>(IlgpuDenseKernels.Output);
    }

    internal Accelerator Accelerator => _accelerator;

    internal void DenseConv(int n, ArrayView<float> input, ArrayView<float> weights, ArrayView<float> bias, ArrayView<float> output, DenseShape shape) =>
        _denseConv(n, input, weights, bias, output, shape);

    internal void DensePool(int n, ArrayView<float> act, ArrayView<float> pooled, DenseShape shape) => _densePool(n, act, pooled, shape);

    internal void DenseOutput(int n, ArrayView<float> maps, ArrayView<float> weights, ArrayView<float> scores, DenseShape shape) =>
        _denseOutput(n, maps, weights, scores, shape);

    public NetworkArchitecture Architecture { get; }

    public string Device => $"ILGPU {_accelerator.AcceleratorType}: {_accelerator.Name}";

    public AcceleratorType AcceleratorType => _accelerator.AcceleratorType;

    /// <summary>The first CUDA device, else the first OpenCL GPU; null when the machine has neither.</summary>
    public static IlgpuBackend? TryCreateGpu(NetworkArchitecture architecture)
    {
        Context? context = null;
        try
        {
            context = Context.Create(builder => builder.Cuda().OpenCL().EnableAlgorithms());
            var device = context.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.Cuda)
                         ?? context.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.OpenCL);
            if (device is null)
            {
                context.Dispose();
                return null;
            }
            return new IlgpuBackend(architecture, context, device.CreateAccelerator(context));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // No driver, no runtime library, or a device that refuses: there is no GPU to use.
            context?.Dispose();
            return null;
        }
    }

    /// <summary>ILGPU's CPU accelerator: the GPU kernels run on the host's threads (for tests and checks).</summary>
    public static IlgpuBackend CreateCpu(NetworkArchitecture architecture)
    {
        var context = Context.Create(builder => builder.CPU().EnableAlgorithms());
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
        var arch = Architecture;
        var layout = arch.Layout;
        var buffers = Prepare(count);
        buffers.Parameters.View.SubView(0, parameters.Length).CopyFromCPU(parameters.ToArray());
        buffers.Boxes.View.SubView(0, boxes.Length).CopyFromCPU(boxes.ToArray());
        Forward(buffers, count);
        var y = new float[count];
        buffers.Scores.View.SubView(0, count).CopyToCPU(y);
        // The loss and its derivative at the output unit are a few floats per box: done on the host.
        var dz = new float[count];
        double total = 0;
        for (var b = 0; b < count; b++)
        {
            total += Loss.Value(loss, y[b], targets[b]);
            dz[b] = Loss.GradientAtPreActivation(loss, y[b], targets[b]);
        }
        buffers.Dz.View.SubView(0, count).CopyFromCPU(dz);

        var p = buffers.Parameters.View;
        var g = buffers.Gradient.View;
        var n = arch.DenseInputs;
        var last = arch.Stages.Count - 1;
        var dense = p.SubView(layout.DenseWeightOffset, n + 1);
        _denseBackwardWeights(n + 1, buffers.Pooled[last].View, buffers.Dz.View, g.SubView(layout.DenseWeightOffset, n + 1), n, count);
        _denseBackwardData(count * n, buffers.Dz.View, dense, buffers.DPooled[last].View, n);
        for (var s = last; s >= 0; s--)
        {
            var shape = Shape(s, count);
            var st = arch.Stages[s];
            var act = buffers.Activations[s].View;
            var dConv = buffers.DConv[s].View;
            _poolSigmoidBackward(count * st.OutChannels * st.ConvHeight * st.ConvWidth, buffers.DPooled[s].View, act, dConv, shape);
            var input = s == 0 ? buffers.Boxes.View : buffers.Pooled[s - 1].View;
            _convBackwardWeights(st.WeightCount, input, dConv, g.SubView(layout.WeightOffset(s), st.WeightCount), shape);
            _convBackwardBias(st.OutChannels, dConv, g.SubView(layout.BiasOffset(s), st.OutChannels), shape);
            if (s > 0)
            {
                _convBackwardData(count * st.InChannels * st.InHeight * st.InWidth, dConv, p.SubView(layout.WeightOffset(s), st.WeightCount),
                    buffers.DPooled[s - 1].View, shape);
            }
        }
        var result = new float[arch.ParameterCount];
        g.SubView(0, arch.ParameterCount).CopyToCPU(result);
        result.CopyTo(gradient);
        if (scores.Length >= count) y.CopyTo(scores);
        return total;
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
            Gradient = accelerator.Allocate1D<float>(arch.ParameterCount);
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
