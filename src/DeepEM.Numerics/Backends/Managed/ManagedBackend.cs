using System.Collections.Concurrent;
using System.Runtime.Intrinsics.X86;
using DeepEM.Numerics.Layers;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Scoring;

namespace DeepEM.Numerics.Backends.Managed;

/// <summary>
/// The fast CPU backend: the layer kernels of <see cref="Layers"/> (AVX2/FMA, register-blocked direct
/// convolution) run box by box, with boxes spread over all cores. Gradients are summed per fixed chunk of
/// <see cref="ChunkSize"/> boxes and the chunks added in order, so that the result is the same bytes on any
/// number of cores. Work buffers are made once per thread and reused: nothing is allocated per box.
/// </summary>
public sealed class ManagedBackend : IComputeBackend
{
    public const int ChunkSize = GradientChunks.Size;

    private readonly ConcurrentBag<Workspace> _workspaces = [];
    private readonly int _threads;

    public ManagedBackend(NetworkArchitecture architecture, int? threads = null)
    {
        Architecture = architecture;
        _threads = Math.Max(1, threads ?? Environment.ProcessorCount);
        Shapes = new StageShapes(architecture);
    }

    public NetworkArchitecture Architecture { get; }

    public IDenseScorer CreateDenseScorer(float[] parameters) => new DenseScorer(Architecture, parameters, _threads);

    public StageShapes Shapes { get; }

    public string Device =>
        $"managed CPU, {_threads} thread{(_threads == 1 ? "" : "s")}, {(Fma.IsSupported ? "AVX2+FMA" : "scalar (no FMA)")}";

    public void Score(ReadOnlySpan<float> parameters, ReadOnlySpan<float> boxes, int count, Span<float> scores)
    {
        // With batch normalisation the boxes scored are normalised by their own statistics, all of them together (for
        // validation: every validation box in its four rotations), as a folded model is by its training boxes'.
        if (Architecture.BatchNorm) parameters = FoldBatchNorm(parameters, boxes, count);
        var packed = Pack(parameters, backward: false);
        var boxArray = boxes.ToArray();
        var paramArray = parameters.ToArray();
        var result = new float[count];
        Parallel.For(0, (count + ChunkSize - 1) / ChunkSize, new ParallelOptions { MaxDegreeOfParallelism = _threads }, chunk =>
        {
            var ws = Rent();
            try
            {
                for (var b = chunk * ChunkSize; b < Math.Min(count, (chunk + 1) * ChunkSize); b++)
                {
                    result[b] = ForwardBox(ws, paramArray, packed, boxArray.AsSpan(b * BoxPixels, BoxPixels), out _);
                }
            }
            finally
            {
                _workspaces.Add(ws);
            }
        });
        result.CopyTo(scores);
    }

    public double Gradient(ReadOnlySpan<float> parameters, ReadOnlySpan<float> boxes, ReadOnlySpan<float> targets, int count,
        LossKind loss, Span<float> gradient, Span<float> scores)
    {
        var n = Architecture.ParameterCount;
        var (chunkGradients, chunkLoss, scoreArray) = Chunks(parameters, boxes, targets, count, loss);
        gradient[..n].Clear();
        double total = 0;
        for (var c = 0; c < chunkGradients.Length; c++)
        {
            var g = chunkGradients[c];
            for (var i = 0; i < n; i++) gradient[i] += g[i];
            total += chunkLoss[c];
        }
        if (scores.Length >= count) scoreArray.CopyTo(scores);
        return total;
    }

    public void ChunkGradients(ReadOnlySpan<float> parameters, ReadOnlySpan<float> boxes, ReadOnlySpan<float> targets, int count,
        LossKind loss, Span<float> gradients, Span<double> losses)
    {
        var n = Architecture.ParameterCount;
        var (chunkGradients, chunkLoss, _) = Chunks(parameters, boxes, targets, count, loss);
        for (var c = 0; c < chunkGradients.Length; c++)
        {
            chunkGradients[c].CopyTo(gradients.Slice(c * n, n));
            losses[c] = chunkLoss[c];
        }
    }

    /// <summary>Each chunk's gradient and loss, chunks spread over the cores, boxes within a chunk in order.</summary>
    private (float[][] gradients, double[] losses, float[] scores) Chunks(ReadOnlySpan<float> parameters, ReadOnlySpan<float> boxes,
        ReadOnlySpan<float> targets, int count, LossKind loss)
    {
        var packed = Pack(parameters, backward: false);
        var flipped = Pack(parameters, backward: true);
        var chunks = (count + ChunkSize - 1) / ChunkSize;
        var n = Architecture.ParameterCount;
        var chunkGradients = new float[chunks][];
        var chunkLoss = new double[chunks];
        var boxArray = boxes.ToArray();
        var targetArray = targets.ToArray();
        var paramArray = parameters.ToArray();
        var scoreArray = new float[count];
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = _threads }, chunk =>
        {
            if (Architecture.BatchNorm)
            {
                var first = chunk * ChunkSize;
                (chunkGradients[chunk], chunkLoss[chunk]) = BatchNormChunk(paramArray, packed, flipped, boxArray, targetArray, first,
                    Math.Min(count, first + ChunkSize) - first, loss, scoreArray);
                return;
            }
            var ws = Rent();
            try
            {
                var g = new float[n];
                double l = 0;
                for (var b = chunk * ChunkSize; b < Math.Min(count, (chunk + 1) * ChunkSize); b++)
                {
                    var y = ForwardBox(ws, paramArray, packed, boxArray.AsSpan(b * BoxPixels, BoxPixels), out _);
                    scoreArray[b] = y;
                    l += Loss.Value(loss, y, targetArray[b]);
                    BackwardBox(ws, paramArray, flipped, Loss.GradientAtPreActivation(loss, y, targetArray[b]), g);
                }
                chunkGradients[chunk] = g;
                chunkLoss[chunk] = l;
            }
            finally
            {
                _workspaces.Add(ws);
            }
        });
        return (chunkGradients, chunkLoss, scoreArray);
    }

    private int BoxPixels => Architecture.BoxSize * Architecture.BoxSize;

    /// <summary>
    /// One chunk's gradient with batch normalisation: each stage's convolution for every box of the chunk, the maps
    /// normalised over the chunk (<see cref="BatchNorm.Forward"/>), activated and pooled; backward stage by stage over
    /// the chunk, since each box's dL/dz depends on every box's dL/dy. Boxes are added in order, as without it.
    /// </summary>
    private (float[] gradient, double loss) BatchNormChunk(float[] parameters, float[][] packed, float[][] flipped, float[] boxes, float[] targets,
        int first, int m, LossKind loss, float[] scores)
    {
        var layout = Architecture.Layout;
        var stages = Architecture.Stages;
        var g = new float[Architecture.ParameterCount];
        var ws = new Workspace[m];
        for (var i = 0; i < m; i++) ws[i] = Rent();
        try
        {
            var invStd = stages.Select(st => new float[st.OutChannels]).ToArray();
            for (var i = 0; i < m; i++) boxes.AsSpan((first + i) * BoxPixels, BoxPixels).CopyTo(ws[i].Input);
            for (var s = 0; s < stages.Count; s++)
            {
                var st = stages[s];
                var sh = Shapes[s];
                for (var i = 0; i < m; i++)
                {
                    ReadOnlySpan<float> input = s == 0 ? ws[i].Input : ws[i].Pooled[s - 1];
                    Convolution.Forward(input, st.InChannels, sh.InPlane, sh.Stride, packed[s], parameters.AsSpan(layout.BiasOffset(s), st.OutChannels),
                        st.OutChannels, st.Kernel, ws[i].Conv[s], st.ConvHeight, sh.ConvPlane);
                }
                BatchNorm.Forward(ws.Select(w => w.Conv[s]).ToList(), ws.Select(w => w.XHat[s]).ToList(), st.OutChannels, sh.ConvPlane, st.ConvHeight,
                    sh.Stride, st.ConvWidth, parameters.AsSpan(layout.ScaleOffset(s), st.OutChannels),
                    parameters.AsSpan(layout.ShiftOffset(s, st.OutChannels), st.OutChannels), Architecture.Activation, invStd[s]);
                for (var i = 0; i < m; i++)
                {
                    AveragePooling.Forward(ws[i].Conv[s], st.OutChannels, sh.ConvPlane, sh.Stride, st.Pool, st.OutHeight, st.OutWidth,
                        ws[i].Pooled[s], sh.PooledPlane, st.OutWidth);
                }
            }
            var last = stages[^1];
            var lastShape = Shapes[^1];
            double total = 0;
            for (var i = 0; i < m; i++)
            {
                var y = DenseOutput.Forward(ws[i].Pooled[^1], last.OutChannels, lastShape.PooledPlane, last.OutWidth, last.OutHeight, last.OutWidth,
                    parameters.AsSpan(layout.DenseWeightOffset, Architecture.DenseInputs), parameters[layout.DenseBiasOffset], out _);
                scores[first + i] = y;
                total += Loss.Value(loss, y, targets[first + i]);
                DenseOutput.Backward(Loss.GradientAtPreActivation(loss, y, targets[first + i]), ws[i].Pooled[^1], last.OutChannels, lastShape.PooledPlane,
                    last.OutWidth, last.OutHeight, last.OutWidth, parameters.AsSpan(layout.DenseWeightOffset, Architecture.DenseInputs),
                    g.AsSpan(layout.DenseWeightOffset, Architecture.DenseInputs), ref g[layout.DenseBiasOffset], ws[i].DPooled);
            }
            var dPooled = ws.Select(w => w.DPooled).ToArray();
            var dPooledPlane = lastShape.PooledPlane;
            var dPooledStride = last.OutWidth;
            for (var s = stages.Count - 1; s >= 0; s--)
            {
                var st = stages[s];
                var sh = Shapes[s];
                for (var i = 0; i < m; i++)
                {
                    AveragePooling.Backward(dPooled[i], st.OutChannels, dPooledPlane, dPooledStride, st.OutHeight, st.OutWidth,
                        st.Pool, st.ConvHeight, st.ConvWidth, ws[i].DActivation[s], sh.ConvPlane, sh.Stride);
                    HiddenActivation.Backward(Architecture.Activation, ws[i].Conv[s], ws[i].DActivation[s], sh.Stride, ws[i].DConv[s], st.OutChannels,
                        sh.ConvPlane, st.ConvHeight, sh.Stride, st.ConvWidth);
                }
                BatchNorm.Backward(ws.Select(w => w.DConv[s]).ToList(), ws.Select(w => w.XHat[s]).ToList(), st.OutChannels, sh.ConvPlane, st.ConvHeight,
                    sh.Stride, st.ConvWidth, parameters.AsSpan(layout.ScaleOffset(s), st.OutChannels), invStd[s],
                    g.AsSpan(layout.ScaleOffset(s), st.OutChannels), g.AsSpan(layout.ShiftOffset(s, st.OutChannels), st.OutChannels));
                for (var i = 0; i < m; i++)
                {
                    ReadOnlySpan<float> stageInput = s == 0 ? ws[i].Input : ws[i].Pooled[s - 1];
                    Convolution.BackwardWeights(stageInput, st.InChannels, sh.InPlane, sh.Stride, ws[i].DConv[s], st.OutChannels, sh.ConvPlane,
                        st.ConvHeight, st.Kernel, g.AsSpan(layout.WeightOffset(s), st.WeightCount), g.AsSpan(layout.BiasOffset(s), st.OutChannels));
                    if (s == 0) continue;
                    Convolution.BackwardData(ws[i].DConv[s], st.OutChannels, sh.ConvPlane, sh.Stride, st.ConvHeight, st.ConvWidth,
                        flipped[s], st.InChannels, st.Kernel, ws[i].Padded[s], sh.PaddedPlane, ws[i].DInput[s], sh.DInputPlane);
                    dPooled[i] = ws[i].DInput[s];
                }
                dPooledPlane = sh.DInputPlane;
                dPooledStride = st.InWidth + st.Kernel - 1;
            }
            return (g, total);
        }
        finally
        {
            foreach (var w in ws) _workspaces.Add(w);
        }
    }

    /// <summary>
    /// Folds batch normalisation into the convolutions with the statistics of <paramref name="count"/> boxes: stage
    /// by stage, each stage's maps measured with the stages before it already folded (as picking will compute them).
    /// Returns a vector of the same layout whose plain part is the folded network; its scales and shifts no longer
    /// matter. Sums per chunk in double, chunks added in order: the same bytes on any number of cores.
    /// </summary>
    public float[] FoldBatchNorm(ReadOnlySpan<float> parameters, ReadOnlySpan<float> boxes, int count)
    {
        if (!Architecture.BatchNorm) throw new InvalidOperationException($"{Architecture.Preset} has no batch normalisation to fold");
        var layout = Architecture.Layout;
        var stages = Architecture.Stages;
        var folded = parameters.ToArray();
        var boxArray = boxes[..(count * BoxPixels)].ToArray();
        var chunks = (count + ChunkSize - 1) / ChunkSize;
        for (var s = 0; s < stages.Count; s++)
        {
            var st = stages[s];
            var sh = Shapes[s];
            var packed = Pack(folded, backward: false);
            var sums = new double[chunks][];
            Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = _threads }, chunk =>
            {
                var ws = Rent();
                try
                {
                    var sum = new double[2 * st.OutChannels];
                    for (var b = chunk * ChunkSize; b < Math.Min(count, (chunk + 1) * ChunkSize); b++)
                    {
                        boxArray.AsSpan(b * BoxPixels, BoxPixels).CopyTo(ws.Input);
                        ReadOnlySpan<float> input = ws.Input;
                        for (var t = 0; t < s; t++)
                        {
                            var ts = stages[t];
                            var tsh = Shapes[t];
                            Convolution.Forward(input, ts.InChannels, tsh.InPlane, tsh.Stride, packed[t], folded.AsSpan(layout.BiasOffset(t), ts.OutChannels),
                                ts.OutChannels, ts.Kernel, ws.Conv[t], ts.ConvHeight, tsh.ConvPlane, activation: Architecture.Activation);
                            AveragePooling.Forward(ws.Conv[t], ts.OutChannels, tsh.ConvPlane, tsh.Stride, ts.Pool, ts.OutHeight, ts.OutWidth,
                                ws.Pooled[t], tsh.PooledPlane, ts.OutWidth);
                            input = ws.Pooled[t];
                        }
                        Convolution.Forward(input, st.InChannels, sh.InPlane, sh.Stride, packed[s], folded.AsSpan(layout.BiasOffset(s), st.OutChannels),
                            st.OutChannels, st.Kernel, ws.Conv[s], st.ConvHeight, sh.ConvPlane);
                        for (var c = 0; c < st.OutChannels; c++)
                            for (var r = 0; r < st.ConvHeight; r++)
                                foreach (var v in ws.Conv[s].AsSpan(c * sh.ConvPlane + r * sh.Stride, st.ConvWidth))
                                {
                                    sum[c] += v;
                                    sum[st.OutChannels + c] += (double)v * v;
                                }
                    }
                    sums[chunk] = sum;
                }
                finally
                {
                    _workspaces.Add(ws);
                }
            });
            var n = (double)count * st.ConvHeight * st.ConvWidth;
            var mean = new double[st.OutChannels];
            var variance = new double[st.OutChannels];
            for (var c = 0; c < st.OutChannels; c++)
            {
                double s1 = 0, s2 = 0;
                foreach (var sum in sums)
                {
                    s1 += sum[c];
                    s2 += sum[st.OutChannels + c];
                }
                mean[c] = s1 / n;
                variance[c] = Math.Max(0, s2 / n - mean[c] * mean[c]);
            }
            BatchNorm.Fold(folded.AsSpan(layout.WeightOffset(s), st.WeightCount), folded.AsSpan(layout.BiasOffset(s), st.OutChannels), st.OutChannels,
                parameters.Slice(layout.ScaleOffset(s), st.OutChannels), parameters.Slice(layout.ShiftOffset(s, st.OutChannels), st.OutChannels), mean, variance);
        }
        return folded;
    }

    private Workspace Rent() => _workspaces.TryTake(out var ws) ? ws : new Workspace(Architecture, Shapes);

    private float[][] Pack(ReadOnlySpan<float> parameters, bool backward)
    {
        var layout = Architecture.Layout;
        var stages = Architecture.Stages;
        var packed = new float[stages.Count][];
        for (var s = 0; s < stages.Count; s++)
        {
            var st = stages[s];
            if (backward && s == 0) { packed[s] = []; continue; }
            var weights = parameters.Slice(layout.WeightOffset(s), st.WeightCount);
            packed[s] = backward
                ? new float[Convolution.PackedLength(st.InChannels, st.OutChannels, st.Kernel)]
                : new float[Convolution.PackedLength(st.OutChannels, st.InChannels, st.Kernel)];
            Convolution.PackWeights(weights, st.OutChannels, st.InChannels, st.Kernel, packed[s], flipAndTranspose: backward);
        }
        return packed;
    }

    private float ForwardBox(Workspace ws, float[] parameters, float[][] packed, ReadOnlySpan<float> box, out float z)
    {
        var layout = Architecture.Layout;
        var stages = Architecture.Stages;
        box.CopyTo(ws.Input);
        ReadOnlySpan<float> input = ws.Input;
        for (var s = 0; s < stages.Count; s++)
        {
            var st = stages[s];
            var sh = Shapes[s];
            Convolution.Forward(input, st.InChannels, sh.InPlane, sh.Stride, packed[s],
                parameters.AsSpan(layout.BiasOffset(s), st.OutChannels), st.OutChannels, st.Kernel,
                ws.Conv[s], st.ConvHeight, sh.ConvPlane, activation: Architecture.Activation);
            AveragePooling.Forward(ws.Conv[s], st.OutChannels, sh.ConvPlane, sh.Stride, st.Pool, st.OutHeight, st.OutWidth,
                ws.Pooled[s], sh.PooledPlane, st.OutWidth);
            input = ws.Pooled[s];
        }
        var last = stages[^1];
        return DenseOutput.Forward(ws.Pooled[^1], last.OutChannels, Shapes[^1].PooledPlane, last.OutWidth, last.OutHeight, last.OutWidth,
            parameters.AsSpan(layout.DenseWeightOffset, Architecture.DenseInputs), parameters[layout.DenseBiasOffset], out z);
    }

    private void BackwardBox(Workspace ws, float[] parameters, float[][] flipped, float dz, Span<float> gradient)
    {
        var layout = Architecture.Layout;
        var stages = Architecture.Stages;
        var last = stages[^1];
        var lastShape = Shapes[^1];
        DenseOutput.Backward(dz, ws.Pooled[^1], last.OutChannels, lastShape.PooledPlane, last.OutWidth, last.OutHeight, last.OutWidth,
            parameters.AsSpan(layout.DenseWeightOffset, Architecture.DenseInputs),
            gradient.Slice(layout.DenseWeightOffset, Architecture.DenseInputs), ref gradient[layout.DenseBiasOffset], ws.DPooled);
        // Gradient with respect to this stage's pooled output: its plane size and stride.
        ReadOnlySpan<float> dPooled = ws.DPooled;
        var dPooledPlane = lastShape.PooledPlane;
        var dPooledStride = last.OutWidth;
        for (var s = stages.Count - 1; s >= 0; s--)
        {
            var st = stages[s];
            var sh = Shapes[s];
            AveragePooling.Backward(dPooled, st.OutChannels, dPooledPlane, dPooledStride, st.OutHeight, st.OutWidth,
                st.Pool, st.ConvHeight, st.ConvWidth, ws.DActivation[s], sh.ConvPlane, sh.Stride);
            HiddenActivation.Backward(Architecture.Activation, ws.Conv[s], ws.DActivation[s], sh.Stride, ws.DConv[s], st.OutChannels, sh.ConvPlane,
                st.ConvHeight, sh.Stride, st.ConvWidth);
            ReadOnlySpan<float> stageInput = s == 0 ? ws.Input : ws.Pooled[s - 1];
            Convolution.BackwardWeights(stageInput, st.InChannels, sh.InPlane, sh.Stride, ws.DConv[s], st.OutChannels, sh.ConvPlane,
                st.ConvHeight, st.Kernel, gradient.Slice(layout.WeightOffset(s), st.WeightCount),
                gradient.Slice(layout.BiasOffset(s), st.OutChannels));
            if (s == 0) break;
            Convolution.BackwardData(ws.DConv[s], st.OutChannels, sh.ConvPlane, sh.Stride, st.ConvHeight, st.ConvWidth,
                flipped[s], st.InChannels, st.Kernel, ws.Padded[s], sh.PaddedPlane, ws.DInput[s], sh.DInputPlane);
            dPooled = ws.DInput[s];
            dPooledPlane = sh.DInputPlane;
            dPooledStride = st.InWidth + st.Kernel - 1;
        }
    }

    public void Dispose()
    {
    }

    /// <summary>Plane sizes and strides of every stage (see <see cref="Convolution"/> for the flat-plane layout).</summary>
    public sealed class StageShapes
    {
        private readonly Shape[] _shapes;

        public StageShapes(NetworkArchitecture architecture)
        {
            var stages = architecture.Stages;
            _shapes = new Shape[stages.Count];
            for (var s = 0; s < stages.Count; s++)
            {
                var st = stages[s];
                var stride = st.InWidth;
                var inPlane = st.InHeight * stride + Convolution.PlaneSlack(st.Kernel);
                var convPlane = RoundUp(st.ConvHeight * stride, Convolution.PixelBlock) + Convolution.PixelBlock;
                var nextKernel = s + 1 < stages.Count ? stages[s + 1].Kernel : 0;
                var pooledPlane = st.OutHeight * st.OutWidth + Convolution.PlaneSlack(nextKernel);
                var paddedPlane = Convolution.PaddedPlaneSize(st.InHeight, st.InWidth, st.Kernel);
                var dInputPlane = RoundUp(st.InHeight * (st.InWidth + st.Kernel - 1), Convolution.PixelBlock) + Convolution.PixelBlock;
                _shapes[s] = new Shape(stride, inPlane, convPlane, pooledPlane, paddedPlane, dInputPlane);
            }
        }

        public Shape this[int stage] => _shapes[stage];

        public Shape this[Index stage] => _shapes[stage];

        public int Count => _shapes.Length;

        private static int RoundUp(int v, int m) => (v + m - 1) / m * m;
    }

    public readonly record struct Shape(int Stride, int InPlane, int ConvPlane, int PooledPlane, int PaddedPlane, int DInputPlane);

    /// <summary>One thread's buffers for one box, forward and backward.</summary>
    private sealed class Workspace
    {
        public Workspace(NetworkArchitecture architecture, StageShapes shapes)
        {
            var stages = architecture.Stages;
            var n = stages.Count;
            Input = new float[shapes[0].InPlane];
            Conv = new float[n][];
            Pooled = new float[n][];
            DActivation = new float[n][];
            DConv = new float[n][];
            Padded = new float[n][];
            DInput = new float[n][];
            XHat = new float[n][];
            for (var s = 0; s < n; s++)
            {
                var sh = shapes[s];
                var outs = stages[s].OutChannels;
                // The convolution writes whole 6-map blocks; the backward-data pass writes whole blocks of input maps.
                Conv[s] = new float[Convolution.PaddedOutputs(outs) * sh.ConvPlane];
                Pooled[s] = new float[outs * sh.PooledPlane];
                DActivation[s] = new float[outs * sh.ConvPlane];
                DConv[s] = new float[outs * sh.ConvPlane];
                Padded[s] = new float[outs * sh.PaddedPlane];
                DInput[s] = new float[Convolution.PaddedOutputs(stages[s].InChannels) * sh.DInputPlane];
                XHat[s] = architecture.BatchNorm ? new float[outs * sh.ConvPlane] : [];
            }
            DPooled = new float[Pooled[n - 1].Length];
        }

        public float[] Input { get; }
        public float[][] Conv { get; }
        public float[][] Pooled { get; }
        public float[][] DActivation { get; }
        public float[][] DConv { get; }
        public float[][] Padded { get; }
        public float[][] DInput { get; }
        /// <summary>Batch normalisation's normalised maps, for its backward pass (empty without it).</summary>
        public float[][] XHat { get; }
        public float[] DPooled { get; }
    }
}
