using DeepEM.Imaging.Randomness;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.Layers;
using DeepEM.Numerics.Network;

namespace DeepEM.Numerics.Training;

/// <summary>One sample of an epoch: a training box in one of its symmetries (0–3 the 90° rotations, 4–7 mirrored; <see cref="BoxRotation.Apply"/>).</summary>
public readonly record struct Sample(int Box, int Rotation);

/// <summary>
/// Where a training stands, saved so that a restarted coordinator goes on from here: the step within the epoch,
/// the parameters and their momentum, the best epoch so far and the reports of the epochs done. The order of the
/// samples is not saved: it is replayed from the seed.
/// </summary>
public sealed record TrainingCheckpoint(
    int Epoch,
    int StepInEpoch,
    double EpochLoss,
    float[] Parameters,
    float[] Velocity,
    float[] Best,
    double BestAccuracy,
    double BestLoss,
    int BestEpoch,
    IReadOnlyList<EpochReport> Reports);

/// <summary>
/// One training as a sequence of steps, for whoever computes the gradients: <see cref="Trainer"/> on one device,
/// or a cluster coordinator that hands each step's chunks to worker nodes. Each epoch shuffles every training box
/// in its four rotations, or eight symmetries (seeded); each step takes the next <see cref="BatchBoxes"/> samples (the batch size), and
/// the caller adds the gradient of their <see cref="GradientChunks"/> in chunk order and applies it; after the last
/// step of an epoch the caller validates (<see cref="FinishEpoch"/>) and the next epoch begins.
/// </summary>
public sealed class TrainingRun
{
    private readonly Sample[] _samples;
    private readonly DeterministicRandom _rng;
    private float[] _parameters;
    private float[] _velocity;
    private float[] _best;
    private double _bestAccuracy = -1, _bestLoss = double.PositiveInfinity;
    private int _bestEpoch;
    private double _epochLoss;
    private readonly List<EpochReport> _reports = [];

    public TrainingRun(NetworkArchitecture architecture, BoxSet data, TrainingOptions options, float[]? initialParameters = null, TrainingCheckpoint? resume = null)
    {
        if (data.BoxSize != architecture.BoxSize)
        {
            throw new ArgumentException($"boxes of {data.BoxSize} px for a network of {architecture.BoxSize} px");
        }
        if (options.BatchSize < 1 || options.Epochs < 1) throw new ArgumentException($"batch {options.BatchSize} and {options.Epochs} epochs: both must be positive");
        if (options.Symmetries is not (4 or 8)) throw new ArgumentException($"{options.Symmetries} symmetries: 4 (rotations) or 8 (with mirror images)");
        Architecture = architecture;
        Data = data;
        Options = options;
        (TrainingIndices, ValidationIndices) = Trainer.Split(data, options.ValidationFraction, options.Seed);
        if (TrainingIndices.Length == 0 || ValidationIndices.Length == 0)
        {
            throw new ArgumentException($"too few boxes to train and validate ({data.Count})");
        }
        _parameters = initialParameters is null ? WeightInitialization.Create(architecture, options.Seed) : (float[])initialParameters.Clone();
        if (_parameters.Length != architecture.ParameterCount)
        {
            throw new ArgumentException($"initial parameters hold {_parameters.Length} values, the network has {architecture.ParameterCount}");
        }
        _velocity = new float[_parameters.Length];
        _best = (float[])_parameters.Clone();
        _samples = TrainingIndices.SelectMany(i => Enumerable.Range(0, options.Symmetries).Select(r => new Sample(i, r))).ToArray();
        if (architecture.BatchNorm)
        {
            // Batch normalisation takes its statistics over each chunk of a step (GradientChunks), and a chunk of a few
            // boxes, or one, normalises them to almost nothing: every chunk is whole. A batch is rounded down to whole
            // chunks, and the epoch's last samples that fill no chunk sit it out; the next epoch's shuffle leaves others.
            if (_samples.Length < GradientChunks.Size)
            {
                throw new ArgumentException($"{_samples.Length} training samples: batch normalisation needs at least {GradientChunks.Size}, one chunk");
            }
            SamplesPerEpoch = _samples.Length / GradientChunks.Size * GradientChunks.Size;
        }
        else
        {
            SamplesPerEpoch = _samples.Length;
        }
        BatchBoxes = StepBoxes(architecture, options.BatchSize);
        _rng = DeterministicRandom.ForStream(options.Seed, 0x5417);
        Epoch = 1;
        Shuffle(_samples, _rng);
        if (resume is not null) Restore(resume);
    }

    public NetworkArchitecture Architecture { get; }
    public BoxSet Data { get; }
    public TrainingOptions Options { get; }
    public int[] TrainingIndices { get; }
    public int[] ValidationIndices { get; }

    /// <summary>The epoch under way (1-based); past <see cref="TrainingOptions.Epochs"/> when the training is over.</summary>
    public int Epoch { get; private set; }

    /// <summary>Steps of this epoch already applied.</summary>
    public int StepInEpoch { get; private set; }

    public int StepsPerEpoch => (SamplesPerEpoch + BatchBoxes - 1) / BatchBoxes;

    /// <summary>
    /// Samples a step takes (its last step may take fewer): the batch size, but for a batch-normalised network rounded down
    /// to whole <see cref="GradientChunks"/>, at least one.
    /// </summary>
    public int BatchBoxes { get; }

    /// <summary>What <see cref="BatchBoxes"/> is for a network and a batch size.</summary>
    public static int StepBoxes(NetworkArchitecture architecture, int batchSize) =>
        architecture.BatchNorm ? Math.Max(GradientChunks.Size, batchSize / GradientChunks.Size * GradientChunks.Size) : batchSize;

    /// <summary>Steps applied since the training began.</summary>
    public long Step => (long)(Epoch - 1) * StepsPerEpoch + StepInEpoch;

    public long TotalSteps => (long)Options.Epochs * StepsPerEpoch;

    public bool Finished => Epoch > Options.Epochs;

    /// <summary>Every step of this epoch is applied: validate with <see cref="FinishEpoch"/> before the next step.</summary>
    public bool EpochComplete => !Finished && StepInEpoch == StepsPerEpoch;

    /// <summary>The current parameters (do not change them).</summary>
    public float[] Parameters => _parameters;

    /// <summary>
    /// Samples an epoch steps through: every training box in each symmetry, but for a batch-normalised network only as many as
    /// fill whole chunks (the few left over, different ones each epoch, sit it out).
    /// </summary>
    public int SamplesPerEpoch { get; }

    /// <summary>The reports of the epochs finished so far.</summary>
    public IReadOnlyList<EpochReport> Reports => _reports;

    /// <summary>The samples of the next step, in batch order.</summary>
    public ReadOnlySpan<Sample> NextBatch()
    {
        if (Finished || EpochComplete) throw new InvalidOperationException("no step is due: the epoch must be finished first");
        var start = StepInEpoch * BatchBoxes;
        return _samples.AsSpan(start, Math.Min(BatchBoxes, SamplesPerEpoch - start));
    }

    /// <summary>
    /// Applies a momentum step on the mean gradient of the batch, v ← μv − η·g/n, θ ← θ + v, where
    /// <paramref name="gradientSum"/> is the sum over the batch's boxes (chunks added in order).
    /// </summary>
    public void ApplyGradient(ReadOnlySpan<float> gradientSum, double lossSum, int boxes)
    {
        if (boxes != NextBatch().Length) throw new ArgumentException($"a gradient of {boxes} boxes for a step of {NextBatch().Length}");
        var lr = (float)Options.LearningRateAt(Epoch - 1);
        var momentum = (float)Options.Momentum;
        var scale = lr / boxes;
        for (var i = 0; i < _parameters.Length; i++)
        {
            _velocity[i] = momentum * _velocity[i] - scale * gradientSum[i];
            _parameters[i] += _velocity[i];
        }
        _epochLoss += lossSum;
        StepInEpoch++;
    }

    /// <summary>
    /// Validates the epoch's parameters (the mean score over four rotations, as picking scores), keeps them if they
    /// are the best so far (higher accuracy, lower loss breaking ties), and begins the next epoch.
    /// </summary>
    public EpochReport FinishEpoch(IComputeBackend backend, TimeSpan epochTime, TimeSpan elapsed)
    {
        if (!EpochComplete) throw new InvalidOperationException($"epoch {Epoch} has {StepsPerEpoch - StepInEpoch} steps to go");
        var (_, valLoss, valAccuracy) = Validate(backend, _parameters);
        var isBest = valAccuracy > _bestAccuracy || (valAccuracy == _bestAccuracy && valLoss < _bestLoss);
        if (isBest)
        {
            _bestAccuracy = valAccuracy;
            _bestLoss = valLoss;
            _bestEpoch = Epoch;
            Array.Copy(_parameters, _best, _parameters.Length);
        }
        var perEpoch = elapsed.TotalSeconds / Epoch;
        var report = new EpochReport(Epoch, Options.Epochs, _epochLoss / SamplesPerEpoch, valLoss, valAccuracy,
            SamplesPerEpoch / Math.Max(epochTime.TotalSeconds, 1e-9), elapsed, TimeSpan.FromSeconds(perEpoch * (Options.Epochs - Epoch)), isBest);
        _reports.Add(report);
        Epoch++;
        StepInEpoch = 0;
        _epochLoss = 0;
        if (!Finished) Shuffle(_samples, _rng);
        return report;
    }

    /// <summary>The best epoch's parameters with the validation boxes' F2-best threshold.</summary>
    public TrainingResult Result(IComputeBackend backend)
    {
        if (!Finished) throw new InvalidOperationException($"training is at epoch {Epoch} of {Options.Epochs}");
        var (finalScores, _, _) = Validate(backend, _best);
        var labels = ValidationIndices.Select(Data.Label).ToArray();
        var threshold = ThresholdSelection.BestF2(finalScores, labels);
        return new TrainingResult((float[])_best.Clone(), _bestEpoch, _bestLoss, _bestAccuracy, threshold, TrainingIndices.Length, ValidationIndices.Length, _reports.ToList());
    }

    public TrainingCheckpoint Checkpoint() => new(Epoch, StepInEpoch, _epochLoss, (float[])_parameters.Clone(), (float[])_velocity.Clone(), (float[])_best.Clone(),
        _bestAccuracy, _bestLoss, _bestEpoch, _reports.ToList());

    private void Restore(TrainingCheckpoint c)
    {
        var n = _parameters.Length;
        if (c.Parameters.Length != n || c.Velocity.Length != n || c.Best.Length != n)
        {
            throw new ArgumentException($"checkpoint holds {c.Parameters.Length} parameters, the network has {n}");
        }
        if (c.Epoch < 1 || c.Epoch > Options.Epochs + 1 || c.StepInEpoch < 0 || c.StepInEpoch > StepsPerEpoch)
        {
            throw new ArgumentException($"checkpoint at epoch {c.Epoch} step {c.StepInEpoch} does not fit {Options.Epochs} epochs of {StepsPerEpoch} steps");
        }
        // The sample order of epoch e is the e-th shuffle of one seeded stream: replay the shuffles of the epochs before.
        for (var e = 2; e <= Math.Min(c.Epoch, Options.Epochs); e++) Shuffle(_samples, _rng);
        Epoch = c.Epoch;
        StepInEpoch = c.StepInEpoch;
        _epochLoss = c.EpochLoss;
        _parameters = (float[])c.Parameters.Clone();
        _velocity = (float[])c.Velocity.Clone();
        _best = (float[])c.Best.Clone();
        _bestAccuracy = c.BestAccuracy;
        _bestLoss = c.BestLoss;
        _bestEpoch = c.BestEpoch;
        _reports.Clear();
        _reports.AddRange(c.Reports);
    }

    /// <summary>Rotated (or mirrored) boxes and their labels for <paramref name="samples"/>, one after another.</summary>
    public static void Assemble(BoxSet data, ReadOnlySpan<Sample> samples, Span<float> boxes, Span<float> targets)
    {
        var size = data.BoxSize;
        var pixels = size * size;
        for (var b = 0; b < samples.Length; b++)
        {
            BoxRotation.Apply(data.Box(samples[b].Box), boxes.Slice(b * pixels, pixels), size, samples[b].Rotation);
            targets[b] = data.Label(samples[b].Box);
        }
    }

    private (float[] scores, double loss, double accuracy) Validate(IComputeBackend backend, float[] parameters)
    {
        var scores = Trainer.ScoreRotationAveraged(backend, parameters, Data, ValidationIndices);
        double loss = 0;
        var correct = 0;
        for (var i = 0; i < ValidationIndices.Length; i++)
        {
            var t = Data.Label(ValidationIndices[i]);
            loss += Loss.Value(Options.Loss, scores[i], t);
            if ((scores[i] >= 0.5f) == (t > 0.5f)) correct++;
        }
        return (scores, loss / ValidationIndices.Length, correct / (double)ValidationIndices.Length);
    }

    internal static void Shuffle<T>(T[] items, DeterministicRandom rng)
    {
        for (var i = items.Length - 1; i > 0; i--)
        {
            var j = rng.NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
