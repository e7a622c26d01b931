namespace DeepEM.Numerics.Network;

/// <summary>The layer sizes of one stage before the input size is known.</summary>
public sealed record StageSpec(int Maps, int Kernel, int Pool);

/// <summary>
/// A DeepEM network for boxes of <see cref="BoxSize"/>² pixels: three (or more) convolution stages, then one
/// fully connected sigmoid output unit over all maps of the last stage. All shapes follow from the box size
/// and the stage specs, so a preset can serve any box size whose shapes stay positive.
/// </summary>
public sealed class NetworkArchitecture
{
    public NetworkArchitecture(string preset, int boxSize, IReadOnlyList<StageSpec> specs, Activation activation = Activation.Sigmoid, bool batchNorm = false)
    {
        if (specs.Count == 0)
        {
            throw new ArgumentException("a network needs at least one convolution stage", nameof(specs));
        }
        Preset = preset;
        BoxSize = boxSize;
        Specs = specs;
        Activation = activation;
        BatchNorm = batchNorm;
        var stages = new List<ConvStage>();
        int channels = 1, h = boxSize, w = boxSize;
        foreach (var s in specs)
        {
            if (s.Maps < 1 || s.Kernel < 1 || s.Pool < 1)
            {
                throw new ArgumentException($"stage {s} must have positive maps, kernel and pool");
            }
            var stage = new ConvStage(channels, s.Maps, s.Kernel, s.Pool, h, w);
            if (stage.OutHeight < 1 || stage.OutWidth < 1)
            {
                throw new ArgumentException($"box {boxSize} is too small for preset '{preset}': stage {stages.Count + 1} ({s.Maps}@{s.Kernel}x{s.Kernel}, pool {s.Pool}) has nothing left of {h}x{w}");
            }
            stages.Add(stage);
            channels = stage.OutChannels;
            h = stage.OutHeight;
            w = stage.OutWidth;
        }
        Stages = stages;
        DenseInputs = channels * h * w;
    }

    public string Preset { get; }

    public int BoxSize { get; }

    public IReadOnlyList<StageSpec> Specs { get; }

    public Activation Activation { get; }

    /// <summary>
    /// Batch normalisation between each convolution and its activation while training (statistics of each gradient
    /// chunk, <see cref="Backends.GradientChunks"/>); a per-map scale and shift follow the plain parameters. Picking
    /// never sees it: the trained statistics are folded into the convolutions (<see cref="Layers.BatchNorm.Fold"/>),
    /// which leaves the plain network of <see cref="WithoutBatchNorm"/>.
    /// </summary>
    public bool BatchNorm { get; }

    /// <summary>
    /// The same network without batch normalisation: what a folded model is, named by the preset of that plain
    /// network (deepem-48-bn folds into a deepem-48-relu), so that a model given to <c>train --init</c> or to a
    /// cluster's workers is built the same everywhere.
    /// </summary>
    public NetworkArchitecture WithoutBatchNorm() =>
        BatchNorm ? new NetworkArchitecture(Presets.WithoutBatchNorm(Preset), BoxSize, Specs, Activation) : this;

    public IReadOnlyList<ConvStage> Stages { get; }

    /// <summary>Inputs of the output unit: every pixel of every map of the last stage.</summary>
    public int DenseInputs { get; }

    /// <summary>Length of the flat parameter vector (see <see cref="ParameterLayout"/>).</summary>
    public int ParameterCount => PlainParameterCount + (BatchNorm ? 2 * Stages.Sum(s => s.OutChannels) : 0);

    /// <summary>Parameters of the network without batch normalisation (they come first in the vector).</summary>
    public int PlainParameterCount => Stages.Sum(s => s.WeightCount + s.OutChannels) + DenseInputs + 1;

    /// <summary>Multiply-adds of a forward pass of one box (convolutions and the output unit).</summary>
    public long ForwardMacs => Stages.Sum(s => s.ConvMacs) + DenseInputs;

    public ParameterLayout Layout => new(this);

    public string Describe() =>
        $"{Preset}, box {BoxSize}: " + string.Join(" -> ", Stages.Select(s => s.ToString())) + $" -> dense {DenseInputs} -> 1" +
        (Activation == Activation.Sigmoid ? "" : $" ({Activation.ToString().ToLowerInvariant()} hidden units{(BatchNorm ? ", batch normalisation" : "")})");
}

/// <summary>
/// Where each layer's parameters sit in the flat parameter vector: for each stage its kernels
/// [out][in][ky][kx] then its biases [out]; then the dense weights [channel][y][x] and the dense bias; with batch
/// normalisation, then each stage's scales [out] and shifts [out].
/// A flat vector makes the optimizer, the model file and gradient aggregation across nodes one loop each.
/// </summary>
public readonly struct ParameterLayout
{
    private readonly int[] _weightOffsets;
    private readonly int[] _biasOffsets;
    private readonly int[] _scaleOffsets;

    public ParameterLayout(NetworkArchitecture architecture)
    {
        var stages = architecture.Stages;
        _weightOffsets = new int[stages.Count];
        _biasOffsets = new int[stages.Count];
        var offset = 0;
        for (var i = 0; i < stages.Count; i++)
        {
            _weightOffsets[i] = offset;
            offset += stages[i].WeightCount;
            _biasOffsets[i] = offset;
            offset += stages[i].OutChannels;
        }
        DenseWeightOffset = offset;
        DenseBiasOffset = offset + architecture.DenseInputs;
        offset = DenseBiasOffset + 1;
        _scaleOffsets = new int[stages.Count];
        for (var i = 0; i < stages.Count && architecture.BatchNorm; i++)
        {
            _scaleOffsets[i] = offset;
            offset += 2 * stages[i].OutChannels;
        }
        Count = offset;
    }

    /// <summary>Batch normalisation's scales γ of a stage's maps; its shifts β follow them.</summary>
    public int ScaleOffset(int stage) => _scaleOffsets[stage];

    public int ShiftOffset(int stage, int maps) => _scaleOffsets[stage] + maps;

    public int WeightOffset(int stage) => _weightOffsets[stage];

    public int BiasOffset(int stage) => _biasOffsets[stage];

    public int DenseWeightOffset { get; }

    public int DenseBiasOffset { get; }

    public int Count { get; }
}
