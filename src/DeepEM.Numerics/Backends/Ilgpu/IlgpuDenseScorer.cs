using System.Diagnostics;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Scoring;
using ILGPU;
using ILGPU.Runtime;

namespace DeepEM.Numerics.Backends.Ilgpu;

/// <summary>
/// Dense scoring of whole micrographs on an ILGPU device. The weights go up once (per model, when the scorer is made);
/// a micrograph goes up once through a page-locked buffer, is turned into its four rotations on the device, stacked
/// in one tall plane, and scored stage by stage, one launch per stage for all orientations (<see cref="IlgpuDenseKernels"/>);
/// the four maps are averaged on the device, and either that map comes back (<see cref="Score"/>) or only its local
/// maxima (<see cref="Maxima"/>, what picking needs: kilobytes instead of megabytes). Device buffers are kept for the next micrograph of the same size. Where the maps of the whole
/// tall plane would not fit the device budget, it is scored in bands of rows, each with its box-high halo.
/// One micrograph at a time per scorer (the device is one queue).
/// </summary>
public sealed class IlgpuDenseScorer : IDenseScorer
{
    private readonly IlgpuBackend _backend;
    private readonly NetworkArchitecture _arch;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _parameters;
    private readonly long _budgetBytes;
    private readonly object _gate = new();
    private Workspace? _work;

    /// <param name="deviceBudgetBytes">Device memory for one band's maps; by default an eighth of the device's memory, 256 MB to 4 GB.</param>
    public IlgpuDenseScorer(IlgpuBackend backend, float[] parameters, long? deviceBudgetBytes = null)
    {
        _backend = backend;
        _arch = backend.Architecture;
        if (parameters.Length != _arch.ParameterCount) throw new ArgumentException($"{parameters.Length} parameters for a network of {_arch.ParameterCount}");
        _parameters = backend.Accelerator.Allocate1D(parameters);
        _budgetBytes = deviceBudgetBytes ?? Math.Clamp(backend.Accelerator.MemorySize / 8, 256L << 20, 4L << 30);
    }

    /// <summary>When set, each step is waited for and timed (<see cref="LastSteps"/>); for benchmarks, it costs the overlap of steps.</summary>
    public bool Profile { get; set; }

    /// <summary>Milliseconds of each step of the last micrograph, when <see cref="Profile"/> is set.</summary>
    public IReadOnlyList<(string Step, double Milliseconds)> LastSteps { get; private set; } = [];

    public ScoreMap Score(ReadOnlySpan<float> image, int width, int height, int rotations = 4)
    {
        if (rotations is not (1 or 4)) throw new ArgumentOutOfRangeException(nameof(rotations), "1 or 4 rotations");
        var box = Check(image, width, height);
        lock (_gate)
        {
            var steps = new List<(string, double)>();
            var watch = Stopwatch.StartNew();
            var work = ScoreOnDevice(image[..(width * height)], width, height, rotations, steps, watch);
            var stream = _backend.Accelerator.DefaultStream;
            work.Scores.View.CopyToPageLockedAsync(stream, work.Download);
            stream.Synchronize();
            var data = work.Download.Span.ToArray();
            Step("download", steps, watch);
            if (Profile) LastSteps = steps;
            return new ScoreMap(width - box + 1, height - box + 1, box, data);
        }
    }

    /// <summary>
    /// The local maxima found on the device (<see cref="IlgpuDenseKernels.Maxima"/>): only they come back, sorted into
    /// raster order, so that the list is the CPU's to the last tie.
    /// </summary>
    public IReadOnlyList<MapPeak> Maxima(ReadOnlySpan<float> image, int width, int height, float threshold)
    {
        var box = Check(image, width, height);
        lock (_gate)
        {
            var steps = new List<(string, double)>();
            var watch = Stopwatch.StartNew();
            var work = ScoreOnDevice(image[..(width * height)], width, height, 4, steps, watch);
            int columns = width - box + 1, rows = height - box + 1;
            work.Found.MemSetToZero();
            _backend.Maxima(work.Scores.View, work.Found.View, work.Positions.View, work.Values.View, columns, rows, threshold);
            var count = new int[1];
            work.Found.View.CopyToCPU(count);
            var n = (int)Math.Min(count[0], work.Positions.Length);
            var positions = new int[n];
            var values = new float[n];
            if (n > 0)
            {
                work.Positions.View.SubView(0, n).CopyToCPU(positions);
                work.Values.View.SubView(0, n).CopyToCPU(values);
            }
            Array.Sort(positions, values);
            var maxima = new List<MapPeak>(n);
            for (var i = 0; i < n; i++) maxima.Add(new MapPeak(positions[i] % columns, positions[i] / columns, values[i]));
            Step("maxima", steps, watch);
            if (Profile) LastSteps = steps;
            return maxima;
        }
    }

    /// <summary>The box size, when the image is large enough to hold one box and has the pixels it says.</summary>
    private int Check(ReadOnlySpan<float> image, int width, int height)
    {
        var box = _arch.BoxSize;
        if (width < box || height < box) throw new ArgumentException($"image {width}x{height} is smaller than the {box} px box");
        if (image.Length < width * height) throw new ArgumentException($"{image.Length} pixels for a {width}x{height} image");
        return box;
    }

    private void Step(string name, List<(string, double)> steps, Stopwatch watch)
    {
        if (!Profile) return;
        _backend.Accelerator.Synchronize();
        steps.Add((name, watch.Elapsed.TotalMilliseconds));
        watch.Restart();
    }

    /// <summary>Up, turned, scored and recombined: the averaged map is left in the workspace's <c>Scores</c>.</summary>
    private Workspace ScoreOnDevice(ReadOnlySpan<float> image, int width, int height, int rotations, List<(string, double)> steps, Stopwatch watch)
    {
        var accelerator = _backend.Accelerator;
        var stream = accelerator.DefaultStream;
        var box = _arch.BoxSize;
        var work = Prepare(width, height, rotations);
        void Step(string name) => this.Step(name, steps, watch);

        image.CopyTo(work.Staging.Span);
        work.Image.View.CopyFromPageLockedAsync(stream, work.Staging);
        Step("upload");
        var t = new RotationShape { Width = width, Height = height, Stride = work.Stride, Rotations = rotations, Box = box };
        _backend.PlaceRotations(work.TallRows * work.Stride, work.Image.View, work.Tall.View, t);
        Step("rotations");
        var outputRows = work.TallRows - box + 1;
        for (var y0 = 0; y0 < outputRows; y0 += work.BandRows)
        {
            ScoreBand(work, y0, Math.Min(work.BandRows, outputRows - y0), Step);
        }
        int outW = width - box + 1, outH = height - box + 1;
        _backend.Recombine(outW * outH, work.TallScores.View, work.Scores.View, t);
        Step("recombine");
        return work;
    }

    /// <summary>Output rows [y0, y0 + rows) of the tall plane: the stages over rows + box − 1 input rows.</summary>
    private void ScoreBand(Workspace work, int y0, int rows, Action<string> step)
    {
        var layout = _arch.Layout;
        var stride = work.Stride;
        var slack = work.Slack;
        int Plane(int r) => r * stride + slack;
        var p = _parameters.View;

        var input = IlgpuBackend.From(work.Tall.View, (long)y0 * stride);
        var inRows = rows + _arch.BoxSize - 1;
        var inPlane = Plane(inRows);
        int inPool = 1, inPoolDilation = 1, channels = 1, d = 1;
        var buffers = new[] { work.ActA, work.ActB };
        for (var s = 0; s < _arch.Stages.Count; s++)
        {
            var st = _arch.Stages[s];
            var pooledRows = inRows - inPoolDilation * (inPool - 1);
            var convRows = pooledRows - d * (st.Kernel - 1);
            var output = buffers[s % 2];
            var shape = new DenseShape
            {
                InChannels = channels, OutChannels = st.OutChannels, Kernel = st.Kernel, Stride = stride, Dilation = d,
                InPlane = inPlane, InPool = inPool, InPoolDilation = inPoolDilation, InReach = inPoolDilation * ((inPool - 1) * stride + inPool - 1),
                OutPlane = Plane(convRows), OutRows = convRows, Activation = (int)_arch.Activation,
            };
            _backend.ConvTiled(shape, input, p.SubView(layout.WeightOffset(s), st.WeightCount), p.SubView(layout.BiasOffset(s), st.OutChannels), output.View);
            step($"stage {s + 1} (convolution; its pooling is read by the next)");
            input = output.View;
            inPlane = shape.OutPlane;
            inRows = convRows;
            inPool = st.Pool;
            inPoolDilation = d;
            channels = st.OutChannels;
            d *= st.Pool;
        }
        var finalSize = _arch.Stages[^1].OutHeight;
        var outShape = new DenseShape
        {
            InChannels = channels, Kernel = finalSize, Stride = stride, Dilation = d, InPlane = inPlane,
            InPool = inPool, InPoolDilation = inPoolDilation, OutRows = rows,
        };
        _backend.DenseOutput(rows * stride, input, p.SubView(layout.DenseWeightOffset, _arch.DenseInputs + 1),
            work.TallScores.View.SubView((long)y0 * stride, (long)rows * stride), outShape);
        step("output unit");
    }

    /// <summary>Buffers for micrographs of this size, kept from the last one when it was the same.</summary>
    private Workspace Prepare(int width, int height, int rotations)
    {
        if (_work is { } w && w.Width == width && w.Height == height && w.Rotations == rotations) return w;
        _work?.Dispose();
        _work = null;
        var accelerator = _backend.Accelerator;
        var box = _arch.BoxSize;
        // A common stride for all rotations: the turned ones are as wide as the micrograph is high.
        var stride = rotations == 4 ? Math.Max(width, height) : width;
        var tallRows = rotations == 4 ? 2 * (width + height) : height;
        var slack = ManagedBandScorer.PlaneSlack(_arch) + IlgpuDenseKernels.TileSize * 8;
        var maxChannels = _arch.Stages.Max(s => s.OutChannels);
        var bytesPerRow = 2L * maxChannels * stride * sizeof(float);
        var bandRows = (int)Math.Min(Math.Max(_budgetBytes / bytesPerRow - box, 2L * box), tallRows - box + 1);
        var actFloats = (long)maxChannels * ((long)(bandRows + box) * stride + slack);
        if (actFloats > int.MaxValue) throw new ArgumentException($"a {width}x{height} micrograph does not fit the device scorer's 32-bit planes");
        _work = new Workspace(accelerator, width, height, rotations, stride, tallRows, bandRows, slack, actFloats, box);
        return _work;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _work?.Dispose();
            _parameters.Dispose();
        }
    }

    private sealed class Workspace : IDisposable
    {
        public Workspace(Accelerator accelerator, int width, int height, int rotations, int stride, int tallRows, int bandRows, int slack, long actFloats, int box)
        {
            (Width, Height, Rotations, Stride, TallRows, BandRows, Slack) = (width, height, rotations, stride, tallRows, bandRows, slack);
            Staging = accelerator.AllocatePageLocked1D<float>((long)width * height);
            Download = accelerator.AllocatePageLocked1D<float>((long)(width - box + 1) * (height - box + 1));
            Image = accelerator.Allocate1D<float>((long)width * height);
            Tall = accelerator.Allocate1D<float>((long)tallRows * stride + slack);
            Tall.MemSetToZero();
            TallScores = accelerator.Allocate1D<float>((long)tallRows * stride + slack);
            Scores = accelerator.Allocate1D<float>(Download.Length);
            Found = accelerator.Allocate1D<int>(1);
            var most = LocalMaxima.MaxCount(width - box + 1, height - box + 1);
            Positions = accelerator.Allocate1D<int>(most);
            Values = accelerator.Allocate1D<float>(most);
            // Stale values past what a band writes are only read by positions that are never kept; zeroed once so that
            // they are finite.
            ActA = accelerator.Allocate1D<float>(actFloats);
            ActA.MemSetToZero();
            ActB = accelerator.Allocate1D<float>(actFloats);
            ActB.MemSetToZero();
        }

        public int Width { get; }
        public int Height { get; }
        public int Rotations { get; }
        public int Stride { get; }
        public int TallRows { get; }
        public int BandRows { get; }
        public int Slack { get; }
        public PageLockedArray1D<float> Staging { get; }
        public PageLockedArray1D<float> Download { get; }
        public MemoryBuffer1D<float, Stride1D.Dense> Image { get; }
        public MemoryBuffer1D<float, Stride1D.Dense> Tall { get; }
        public MemoryBuffer1D<float, Stride1D.Dense> TallScores { get; }
        public MemoryBuffer1D<float, Stride1D.Dense> Scores { get; }
        public MemoryBuffer1D<int, Stride1D.Dense> Found { get; }
        public MemoryBuffer1D<int, Stride1D.Dense> Positions { get; }
        public MemoryBuffer1D<float, Stride1D.Dense> Values { get; }
        public MemoryBuffer1D<float, Stride1D.Dense> ActA { get; }
        public MemoryBuffer1D<float, Stride1D.Dense> ActB { get; }

        public void Dispose()
        {
            foreach (var b in new IDisposable[] { Staging, Download, Image, Tall, TallScores, Scores, Found, Positions, Values, ActA, ActB }) b.Dispose();
        }
    }
}
