using DeepEM.Numerics.Network;
using DeepEM.Numerics.Scoring;
using ILGPU;
using ILGPU.Runtime;

namespace DeepEM.Numerics.Backends.Ilgpu;

/// <summary>
/// Dense scoring of bands on an ILGPU device: the band goes up once, every stage's maps stay on the
/// device, and only the scores come back. Bands run one at a time (the device is one queue).
/// </summary>
public sealed class IlgpuBandScorer : IBandScorer
{
    private readonly IlgpuBackend _backend;
    private readonly NetworkArchitecture _arch;
    private readonly float[] _parameters;
    private readonly object _gate = new();

    public IlgpuBandScorer(IlgpuBackend backend, float[] parameters)
    {
        _backend = backend;
        _arch = backend.Architecture;
        _parameters = parameters;
    }

    public int MaxParallelism => 1;

    public void ScoreBand(ReadOnlySpan<float> band, int width, int height, Span<float> scores, int scoresStride)
    {
        float[] result;
        lock (_gate)
        {
            result = Score(band.ToArray(), width, height);
        }
        var columns = width - _arch.BoxSize + 1;
        for (var y = 0; y <= height - _arch.BoxSize; y++)
        {
            result.AsSpan(y * width, columns).CopyTo(scores.Slice(y * scoresStride, columns));
        }
    }

    private float[] Score(float[] band, int width, int height)
    {
        var accelerator = _backend.Accelerator;
        var layout = _arch.Layout;
        var stride = width;
        var finalSize = _arch.Stages[^1].OutHeight;
        var slack = ManagedBandScorer.PlaneSlack(_arch);
        int Plane(int rows) => rows * stride + slack;

        var toFree = new List<MemoryBuffer1D<float, Stride1D.Dense>>();
        MemoryBuffer1D<float, Stride1D.Dense> Alloc(long n)
        {
            var b = accelerator.Allocate1D<float>(n);
            b.MemSetToZero();
            toFree.Add(b);
            return b;
        }
        try
        {
            var parameters = Alloc(_parameters.Length);
            parameters.CopyFromCPU(_parameters);
            var rows = height;
            var inPlane = Plane(rows);
            var current = Alloc(inPlane);
            current.View.SubView(0, band.Length).CopyFromCPU(band);
            var channels = 1;
            var d = 1;
            for (var s = 0; s < _arch.Stages.Count; s++)
            {
                var st = _arch.Stages[s];
                var convRows = rows - d * (st.Kernel - 1);
                var convPlane = Plane(convRows);
                var act = Alloc((long)st.OutChannels * convPlane);
                var shape = new DenseShape
                {
                    InChannels = channels, OutChannels = st.OutChannels, Kernel = st.Kernel, Stride = stride, Dilation = d,
                    InPlane = inPlane, OutPlane = convPlane, Count = convRows * stride, Pool = st.Pool,
                    Activation = (int)_arch.Activation,
                };
                _backend.DenseConv(st.OutChannels * shape.Count, current.View, parameters.View.SubView(layout.WeightOffset(s), st.WeightCount),
                    parameters.View.SubView(layout.BiasOffset(s), st.OutChannels), act.View, shape);
                var poolRows = convRows - d * (st.Pool - 1);
                var poolPlane = Plane(poolRows);
                var pooled = Alloc((long)st.OutChannels * poolPlane);
                var poolShape = shape with { InPlane = convPlane, OutPlane = poolPlane, Count = poolRows * stride };
                _backend.DensePool(st.OutChannels * poolShape.Count, act.View, pooled.View, poolShape);
                current = pooled;
                inPlane = poolPlane;
                rows = poolRows;
                channels = st.OutChannels;
                d *= st.Pool;
            }
            var zRows = rows - d * (finalSize - 1);
            var count = Math.Max(zRows, 0) * stride;
            var scores = Alloc(Math.Max(count, 1));
            var outShape = new DenseShape { InChannels = channels, Kernel = finalSize, Stride = stride, Dilation = d, InPlane = inPlane, Count = count };
            if (count > 0)
            {
                _backend.DenseOutput(count, current.View, parameters.View.SubView(layout.DenseWeightOffset, _arch.DenseInputs + 1), scores.View, outShape);
            }
            accelerator.Synchronize();
            var result = new float[count + 16];
            if (count > 0)
            {
                var host = new float[count];
                scores.View.SubView(0, count).CopyToCPU(host);
                host.CopyTo(result, 0);
            }
            return result;
        }
        finally
        {
            foreach (var b in toFree) b.Dispose();
        }
    }
}
