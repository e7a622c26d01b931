using System.Globalization;
using System.Reflection;
using DeepEM.Formats;
using DeepEM.Formats.Coordinates;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.ModelFile;
using DeepEM.Numerics.ModelFile.Proto;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Training;

namespace DeepEM.Pipeline.Training;

public sealed record TrainingOutcome(TrainedModel Model, TrainingData Data, TrainingResult Result, string Device)
{
    /// <summary>Every peak of the calibration micrographs, by micrograph.</summary>
    public IReadOnlyDictionary<string, List<Pick>> Picks { get; init; } = new Dictionary<string, List<Pick>>();

    /// <summary>The thresholds' calibration; null when the model picked nothing there.</summary>
    public Calibration? Calibration { get; init; }
}

/// <summary>One training to compute: the network, its labelled boxes, the optimizer's settings, optional starting parameters.</summary>
public sealed record TrainingJob(NetworkArchitecture Architecture, BoxSet Boxes, TrainingOptions Options, float[]? InitialParameters, DeviceChoice Device);

/// <summary>
/// Whoever trains: on this machine (<see cref="TrainingWorkflow.OnThisMachine"/>) or on a cluster's gradient workers.
/// Returns the result and the device in words, for the model's record.
/// </summary>
public delegate (TrainingResult Result, string Device) TrainingEngine(TrainingJob job, Action<EpochReport>? progress);

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

    /// <summary>
    /// Samples (a box in one rotation) a training sees by default: the recipe's 20 epochs over 6,365 particles and
    /// 12,730 non-particles. With fewer boxes there are more epochs, up to <see cref="MaximumEpochs"/>: a user who
    /// labels 50 particles per micrograph has a twelfth of the boxes, and 20 epochs of them left the network short
    /// of steps (on EMPIAR-10017, best F1 on unseen micrographs 0.754 after 20 epochs, 0.813 after 150).
    /// </summary>
    public const long DefaultSamples = 1_250_000;

    public const int MinimumEpochs = 20;
    public const int MaximumEpochs = 400;

    /// <summary>Epochs for <see cref="DefaultSamples"/> over <paramref name="boxes"/> (validation boxes not trained on), each in its symmetries.</summary>
    public static int DefaultEpochs(int boxes, double validationFraction, int symmetries = 4) =>
        (int)Math.Clamp(Math.Ceiling(DefaultSamples / ((double)symmetries * Math.Max(1, boxes * (1 - validationFraction)))), MinimumEpochs, MaximumEpochs);

    /// <summary>
    /// Micrographs picked to calibrate the threshold: the recipe's ten. With sparse labels every label counts (20 a
    /// micrograph leave 80 on four), and picking one binned micrograph takes well under a second.
    /// </summary>
    public const int CalibrationMicrographs = 10;

    /// <summary>
    /// The thresholds picking should use. The paper's F2-best threshold on validation boxes is measured on
    /// random non-particles, which are easy; on whole micrographs the hard cases sit between particles, and
    /// that threshold picks far too much (on EMPIAR-10017: 0.16 from boxes, 0.93 best on unseen micrographs).
    /// So the training micrographs are picked with the new model, every peak kept, matched one to one to
    /// their coordinates within 0.15 box, and the F1-best and F2-best thresholds there are stored with the
    /// precision and recall expected at each (<see cref="ThresholdCalibration"/>, which also allows for labels
    /// left off most particles); the box threshold stays in the training record.
    /// </summary>
    private static (TrainedModel Model, Calibration? Calibration) CalibrateThreshold(TrainedModel model, IReadOnlyDictionary<string, List<Pick>> picks,
        IReadOnlyDictionary<string, List<Pick>> coordinates, Action<string>? log)
    {
        var truth = picks.Keys.ToDictionary(n => n, n => coordinates[n]);
        if (picks.Values.Sum(p => p.Count) == 0)
        {
            model.Training.ThresholdSource = "validation boxes (no picks on the training micrographs to calibrate with)";
            return (model, null);
        }
        var report = Evaluation.PickEvaluation.Evaluate(picks, truth, 0.15 * model.Preprocessing.BoxSizeOriginal);
        var calibration = ThresholdCalibration.FromCurve(report.Curve);
        var chosen = calibration.For(ThresholdCalibration.DefaultCriterion);
        var record = model.Training;
        record.ThresholdSource = $"{chosen.Criterion.ToUpperInvariant()}-best picking {picks.Count} training micrographs (match radius 0.15 box" +
            (calibration.SparseLabels ? string.Create(CultureInfo.InvariantCulture, $"; sparse labels, about {calibration.LabelledFraction:P0} of the particles labelled)") : ")");
        record.MicrographF2 = chosen.F2;
        record.DefaultCriterion = chosen.Criterion;
        record.LabelledFraction = calibration.LabelledFraction;
        record.Thresholds.Clear();
        record.Thresholds.AddRange(calibration.Thresholds.Select(t => new Numerics.ModelFile.Proto.CalibratedThreshold
        {
            Criterion = t.Criterion, Threshold = t.Threshold, Precision = t.Precision, Recall = t.Recall,
        }));
        if (calibration.SparseLabels)
        {
            log?.Invoke(string.Create(CultureInfo.InvariantCulture,
                $"labels: sparse, about {calibration.LabelledFraction:P0} of the particles on the training micrographs carry one (estimated from the strongest picks); picks on the others are not counted as false"));
        }
        foreach (var t in calibration.Thresholds)
        {
            log?.Invoke(string.Create(CultureInfo.InvariantCulture,
                $"threshold auto-{t.Criterion}: {t.Threshold:0.###} (expected precision {t.Precision:0.000}, recall {t.Recall:0.000}){(t == chosen ? ", the default" : "")}"));
        }
        log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"thresholds from picking {picks.Count} training micrographs; validation boxes alone gave {model.Threshold:0.###}"));
        return (new TrainedModel(model.Architecture, model.Parameters, model.Preprocessing, (float)chosen.Threshold, model.StdMin, model.StdMax, record), calibration);
    }

    /// <summary>Every peak the model finds on each micrograph that can be read (one that cannot was reported when the boxes were cut).</summary>
    private static Dictionary<string, List<Pick>> PickEveryPeak(TrainedModel model, IEnumerable<string> paths, DeviceChoice device)
    {
        var options = new Picking.PickSettings { Threshold = 0f, StdFilter = true };
        var picks = new Dictionary<string, List<Pick>>(StringComparer.Ordinal);
        using var picker = new Picking.MicrographPicker(model, options, device);
        foreach (var path in paths)
        {
            try
            {
                var mic = Preparation.PreparedMicrograph.Load(path, model.Preprocessing.Binning);
                picks[mic.Name] = picker.Pick(mic).Picks.ToList();
            }
            catch (BadInputException)
            {
                // Already reported when the boxes were cut.
            }
        }
        return picks;
    }

    /// <summary>
    /// The plain network picking uses: batch normalisation folded with the statistics of the boxes trained on (not
    /// the validation boxes), up to <see cref="Trainer.FoldingBoxes"/> of them, in their training ratio.
    /// </summary>
    public static (NetworkArchitecture Architecture, float[] Parameters, int Boxes) FoldBatchNorm(NetworkArchitecture architecture, float[] parameters, BoxSet boxes,
        TrainingOptions options)
    {
        var (trained, _) = Trainer.Split(boxes, options.ValidationFraction, options.Seed);
        using var backend = new Numerics.Backends.Managed.ManagedBackend(architecture);
        return (architecture.WithoutBatchNorm(), Trainer.FoldBatchNorm(backend, parameters, boxes, trained), Math.Min(Trainer.FoldingBoxes, trained.Length));
    }

    /// <summary>The binning that brings <paramref name="boxSize"/> closest to the preset's native box.</summary>
    public static int AutoBinning(int boxSize, string preset) =>
        Math.Max(1, (int)Math.Round(boxSize / (double)Presets.NativeBoxSize(preset)));

    /// <summary>Trains in this process on the request's device.</summary>
    public static (TrainingResult Result, string Device) OnThisMachine(TrainingJob job, Action<EpochReport>? progress)
    {
        using var backend = BackendFactory.Create(job.Architecture, job.Device);
        return (new Trainer(backend, job.Options).Train(job.Boxes, job.InitialParameters, progress), backend.Device);
    }

    /// <summary>
    /// Trains, calibrates and, where the labels are sparse, trains a second round (below). <paramref name="progress"/> hears
    /// each epoch with the round it belongs to (1, or 2 for the second round), so that a display can tell them apart.
    /// </summary>
    public static TrainingOutcome Run(TrainingRequest request, Action<string>? log = null, Action<EpochReport, int>? progress = null, TrainingEngine? engine = null)
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
            // A batch-normalised model was folded into a plain rectifier network (deepem-48-relu): it goes on as that, and a
            // preset asked for that is not the model's is refused rather than quietly not used.
            if (request.Preset is { } preset && preset != init.Architecture.Preset)
            {
                var folded = Presets.Create(preset, init.Architecture.BoxSize) is { BatchNorm: true } asked && asked.WithoutBatchNorm().Preset == init.Architecture.Preset
                    ? $" (a {preset} model is folded into {init.Architecture.Preset} when it is saved, and trains on as that)"
                    : "";
                throw new ArgumentException($"--preset {preset} differs from the --init model's network {init.Architecture.Preset}{folded}");
            }
            architecture = init.Architecture;
        }
        else
        {
            originalBox = request.BoxSize ?? throw new ArgumentException("--box is required (unless --init gives it)");
            var preset = request.Preset ?? Presets.Default;
            binning = request.Binning ?? AutoBinning(originalBox, preset);
            architecture = Presets.Create(preset, originalBox / binning);
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
        log?.Invoke($"training set: {data.Positives} particles and {data.Negatives} non-particles from {data.Micrographs.Count} micrographs");

        var options = request.Options with
        {
            LearningRate = request.LearningRate ?? DefaultLearningRate(architecture.Activation, request.Options.Loss),
            Epochs = request.Epochs ?? DefaultEpochs(data.Boxes.Count, request.Options.ValidationFraction, request.Options.Symmetries),
        };
        var chunkBatch = TrainingRun.StepBoxes(architecture, options.BatchSize);
        var batch = chunkBatch != options.BatchSize ? $"{chunkBatch} (batch normalisation steps on whole chunks of {GradientChunks.Size})" : $"{options.BatchSize}";
        log?.Invoke($"training: {options.Epochs} epochs, batch {batch}, learning rate {options.LearningRate:0.###}, momentum {options.Momentum}, {(options.Loss == LossKind.SquaredError ? "squared error" : "cross-entropy")}, seed {options.Seed}, {(options.Symmetries == 4 ? "4 rotations" : "8 symmetries (rotations and mirror images)")} of each box");

        var paths = request.Micrographs.Where(p => data.Micrographs.Contains(MicrographReader.NameOf(p))).ToList();
        var first = TrainRound(request, engine, architecture, binning, originalBox, init, data, options, paths, coordinates, log, Round(progress, 1));
        if (!request.SparseLabelRound || first.Calibration is not { SparseLabels: true } calibration) return first;

        // Sparse labels: many of the first round's random negatives land on particles nobody labelled (about a third
        // of them with 8% of the particles labelled on EMPIAR-10017), and the network learns to reject particles. The
        // first model's picks above its F2-best threshold (the recall-weighted one) mark where those particles likely
        // are; a second round draws its random negatives away from them as well as from the labels. It adds no
        // positives: the first model's picks as positives were measured to gain little (docs/benchmarks.md, "Sparse
        // labels and thresholds"), and a third round nothing ("Random non-particles kept clear").
        var clearAbove = calibration.For(ThresholdCalibration.F2).Threshold;
        var peaks = new Dictionary<string, List<Pick>>(first.Picks, StringComparer.Ordinal);
        var unpicked = paths.Where(p => !peaks.ContainsKey(MicrographReader.NameOf(p))).ToList();
        if (unpicked.Count > 0)
        {
            foreach (var (name, more) in PickEveryPeak(first.Model, unpicked, request.Device)) peaks[name] = more;
        }
        var keepClear = peaks.ToDictionary(kv => kv.Key, kv => kv.Value.Where(p => p.Score >= clearAbove).ToList(), StringComparer.Ordinal);
        var clearCount = keepClear.Values.Sum(p => p.Count);
        log?.Invoke(string.Create(CultureInfo.InvariantCulture,
            $"sparse labels: a second round, its random non-particles also kept clear of the first model's {clearCount} picks above {clearAbove:0.###} (auto-f2) on {keepClear.Count} micrographs"));
        var cleared = TrainingDataBuilder.Build(request.Micrographs, coordinates, negatives, sampling, log, keepClear);
        log?.Invoke($"training set, second round: {cleared.Positives} particles and {cleared.Negatives} non-particles from {cleared.Micrographs.Count} micrographs");
        // As many samples as the first round saw, should fewer negatives fit beside the places kept clear.
        var secondOptions = request.Epochs is null
            ? options with { Epochs = DefaultEpochs(cleared.Boxes.Count, options.ValidationFraction, options.Symmetries) }
            : options;
        if (secondOptions.Epochs != options.Epochs) log?.Invoke($"training, second round: {secondOptions.Epochs} epochs");
        var second = TrainRound(request, engine, architecture, binning, originalBox, init, cleared, secondOptions, paths, coordinates, log, Round(progress, 2));
        second.Model.Training.KeptClearPicks = clearCount;
        return second;
    }

    private static Action<EpochReport>? Round(Action<EpochReport, int>? progress, int round) =>
        progress is null ? null : report => progress(report, round);

    /// <summary>One training on <paramref name="data"/>, packaged and calibrated.</summary>
    private static TrainingOutcome TrainRound(TrainingRequest request, TrainingEngine? engine, NetworkArchitecture architecture, int binning, int originalBox,
        TrainedModel? init, TrainingData data, TrainingOptions options, IReadOnlyList<string> paths, IReadOnlyDictionary<string, List<Pick>> coordinates,
        Action<string>? log, Action<EpochReport>? progress)
    {
        var (result, device) = (engine ?? OnThisMachine)(new TrainingJob(architecture, data.Boxes, options, init?.Parameters, request.Device), progress);
        log?.Invoke($"trained on: {device}");

        var record = new TrainingRecord
        {
            Positives = data.Positives,
            Negatives = data.Negatives,
            TrainingBoxes = result.TrainingBoxes,
            ValidationBoxes = result.ValidationBoxes,
            Epochs = options.Epochs,
            BestEpoch = result.BestEpoch,
            Seed = options.Seed,
            Loss = LossNames.Of(options.Loss),
            LearningRate = options.LearningRate,
            Momentum = options.Momentum,
            BatchSize = options.BatchSize,
            Symmetries = options.Symmetries,
            ValidationLoss = result.ValidationLoss,
            ValidationAccuracy = result.ValidationAccuracy,
            ValidationPrecision = result.Threshold.Precision,
            ValidationRecall = result.Threshold.Recall,
            ValidationF2 = result.Threshold.F2,
            InitializedFrom = init?.ParametersHash ?? "",
            ProgramVersion = ProgramVersion,
            Device = device,
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
        record.BoxThreshold = result.Threshold.Threshold;
        var (pickingArchitecture, parameters) = (architecture, result.Parameters);
        if (architecture.BatchNorm)
        {
            (pickingArchitecture, parameters, record.BatchNormBoxes) = FoldBatchNorm(architecture, result.Parameters, data.Boxes, options);
            log?.Invoke($"batch normalisation folded into the convolutions with the statistics of {record.BatchNormBoxes} training boxes: the model is a plain network");
        }
        var boxModel = new TrainedModel(pickingArchitecture, parameters, preprocessing, (float)result.Threshold.Threshold,
            data.StdMin, data.StdMax, record);
        var picks = PickEveryPeak(boxModel, paths.Take(CalibrationMicrographs), request.Device);
        var (model, calibration) = CalibrateThreshold(boxModel, picks, coordinates, log);
        return new TrainingOutcome(model, data, result, device) { Picks = picks, Calibration = calibration };
    }
}
