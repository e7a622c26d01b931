using System.Reflection;
using DeepEM.Formats;
using DeepEM.Formats.Coordinates;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.ModelFile;
using DeepEM.Numerics.ModelFile.Proto;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Training;

namespace DeepEM.Pipeline.Training;

public sealed record TrainingOutcome(TrainedModel Model, TrainingData Data, TrainingResult Result, string Device);

/// <summary>
/// <c>deepem train</c> on one machine: cut boxes from the micrographs, train on the chosen device, and
/// package the best parameters with the F2-best threshold and the particles' standard-deviation range.
/// </summary>
public static class TrainingWorkflow
{
    public static string ProgramVersion =>
        typeof(TrainingWorkflow).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>
    /// Learning rates measured to train (with momentum 0.9): sigmoid units 0.3 with squared error, 0.1 with
    /// cross-entropy; rectifiers a third of that (at 0.3 a rectifier network died in the first epoch on the
    /// EMPIAR-10017 boxes and stayed at the class prior).
    /// </summary>
    public static double DefaultLearningRate(Activation activation, LossKind loss) =>
        (loss == LossKind.SquaredError ? 0.3 : 0.1) * (activation == Activation.Relu ? 1.0 / 3 : 1);

    /// <summary>The binning that brings <paramref name="boxSize"/> closest to the preset's native box.</summary>
    public static int AutoBinning(int boxSize, string preset) =>
        Math.Max(1, (int)Math.Round(boxSize / (double)Presets.NativeBoxSize(preset)));

    public static TrainingOutcome Run(TrainingRequest request, Action<string>? log = null, Action<EpochReport>? progress = null)
    {
        TrainedModel? init = null;
        NetworkArchitecture architecture;
        int binning, originalBox;
        if (request.InitModel is { } initPath)
        {
            init = TrainedModel.Load(initPath);
            binning = init.Preprocessing.Binning;
            originalBox = init.Preprocessing.BoxSizeOriginal;
            if (request.BoxSize is { } b && b != originalBox)
                throw new ArgumentException($"--box {b} differs from the --init model's box {originalBox}");
            if (request.Binning is { } bin && bin != binning)
                throw new ArgumentException($"--bin {bin} differs from the --init model's binning {binning}");
            architecture = init.Architecture;
        }
        else
        {
            originalBox = request.BoxSize ?? throw new ArgumentException("--box is required (unless --init gives it)");
            binning = request.Binning ?? AutoBinning(originalBox, request.Preset);
            architecture = Presets.Create(request.Preset, originalBox / binning);
        }
        log?.Invoke($"network: {architecture.Describe()}");
        log?.Invoke($"boxes: {originalBox} px, binned {binning}x to {architecture.BoxSize} px (block mean), normalised per micrograph");

        var coordinates = CoordinateFiles.ReadAll(request.Coordinates);
        var negatives = request.Negatives is null ? null : CoordinateFiles.ReadAll(request.Negatives);
        var sampling = new BoxSampling
        {
            BoxSize = architecture.BoxSize,
            Binning = binning,
            NegativeRatio = request.NegativeRatio,
            NegativeDistance = request.NegativeDistanceFraction * architecture.BoxSize,
            Seed = request.Options.Seed,
        };
        var data = TrainingDataBuilder.Build(request.Micrographs, coordinates, negatives, sampling, log);
        if (data.Positives == 0)
        {
            throw new ArgumentException("no particle boxes: no micrograph had coordinates that fit a box inside it");
        }
        log?.Invoke($"training set: {data.Positives} particles and {data.Negatives} non-particles from {data.Micrographs.Count} micrographs, each in 4 rotations");

        using var backend = BackendFactory.Create(architecture, request.Device);
        log?.Invoke($"device: {backend.Device}");
        var options = request.Options with
        {
            LearningRate = request.LearningRate ?? DefaultLearningRate(architecture.Activation, request.Options.Loss),
        };
        log?.Invoke($"training: {options.Epochs} epochs, batch {options.BatchSize}, learning rate {options.LearningRate:0.###}, momentum {options.Momentum}, {(options.Loss == LossKind.SquaredError ? "squared error" : "cross-entropy")}, seed {options.Seed}");
        var trainer = new Trainer(backend, options);
        var result = trainer.Train(data.Boxes, init?.Parameters, progress);

        var record = new TrainingRecord
        {
            Positives = data.Positives,
            Negatives = data.Negatives,
            TrainingBoxes = result.TrainingBoxes,
            ValidationBoxes = result.ValidationBoxes,
            Epochs = options.Epochs,
            BestEpoch = result.BestEpoch,
            Seed = options.Seed,
            Loss = options.Loss == LossKind.SquaredError ? "squared-error" : "cross-entropy",
            LearningRate = options.LearningRate,
            Momentum = options.Momentum,
            BatchSize = options.BatchSize,
            ValidationLoss = result.ValidationLoss,
            ValidationAccuracy = result.ValidationAccuracy,
            ValidationPrecision = result.Threshold.Precision,
            ValidationRecall = result.Threshold.Recall,
            ValidationF2 = result.Threshold.F2,
            InitializedFrom = init?.ParametersHash ?? "",
            ProgramVersion = ProgramVersion,
            Device = backend.Device,
        };
        record.Micrographs.AddRange(data.Micrographs);
        record.History.AddRange(result.Epochs.Select(e => new EpochRecord
        {
            Epoch = e.Epoch, TrainingLoss = e.TrainingLoss, ValidationLoss = e.ValidationLoss, ValidationAccuracy = e.ValidationAccuracy,
        }));
        var preprocessing = new Preprocessing
        {
            Binning = binning,
            BinningMethod = "block-mean",
            Normalization = "per-micrograph zero mean, unit variance",
            BoxSizeOriginal = originalBox,
            PixelSizeAngstrom = data.PixelSizeAngstrom ?? 0,
        };
        var model = new TrainedModel(architecture, result.Parameters, preprocessing, (float)result.Threshold.Threshold,
            data.StdMin, data.StdMax, record);
        return new TrainingOutcome(model, data, result, backend.Device);
    }
}
