using System.CommandLine;
using System.Globalization;
using DeepEM.Cli.Infrastructure;
using DeepEM.Cli.Workflows;
using DeepEM.Cluster.Clients;
using DeepEM.Formats;
using DeepEM.Formats.IO;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Training;
using DeepEM.Pipeline.Training;

namespace DeepEM.Cli.Commands;

/// <summary><c>deepem train</c>: boxes from micrographs and picks, a trained network out, in one model file.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var defaults = new TrainingOptions();
        var micrographs = new Option<string[]>("--micrographs") { Description = "micrograph files, folders, glob patterns or a RELION micrographs.star", Required = true, AllowMultipleArgumentsPerToken = true, Arity = ArgumentArity.OneOrMore };
        var coords = new Option<string>("--coords") { Description = "folder (or file) of particle coordinates, matched to micrographs by name, or a RELION coordinate index (manualpick.star, autopick.star)", Required = true };
        var box = new Option<int?>("--box") { Description = "box size in pixels of the micrographs as given" };
        var output = new Option<string>("--out") { Description = "model file to write (.deepem)", Required = true };
        var bin = new Option<int?>("--bin") { Description = "binning factor (default: brings the box near the preset's size)" };
        var epochs = new Option<int?>("--epochs") { Description = $"passes over the training boxes (default: {TrainingWorkflow.MinimumEpochs}, more when the boxes are few, so that a training sees about {TrainingWorkflow.DefaultSamples / 1e6:0.##} million rotated boxes)" };
        var seed = new Option<ulong>("--seed") { Description = "random seed: same seed and data, same model bytes", DefaultValueFactory = _ => defaults.Seed };
        var init = new Option<string?>("--init") { Description = "model to continue from, with added positives and negatives (iterative refinement)" };
        var negatives = new Option<string?>("--negatives") { Description = "folder of non-particle coordinates (false positives to learn from)" };
        var cluster = new ClientOptions("host:port of a cluster node: train data-parallel on its worker nodes (default: a one-node cluster in this process)");
        var preset = new Option<string>("--preset") { Description = $"network shape: {string.Join(", ", Presets.Names)}", DefaultValueFactory = _ => Presets.Default };
        var device = new Option<string>("--device") { Description = "auto, cpu, gpu or ilgpu-cpu", DefaultValueFactory = _ => "auto" };
        var batch = new Option<int>("--batch") { Description = "boxes per gradient step (deepem-48-bn: rounded down to whole chunks of 16)", DefaultValueFactory = _ => defaults.BatchSize };
        var rate = new Option<double?>("--learning-rate") { Description = "initial learning rate, decaying along a half cosine to 10% (default: 0.3 for squared error, 0.1 for cross-entropy; a third of that for rectifier presets)" };
        var momentum = new Option<double>("--momentum") { Description = "momentum of gradient descent", DefaultValueFactory = _ => defaults.Momentum };
        var loss = new Option<string>("--loss") { Description = "squared-error (the paper's) or cross-entropy", DefaultValueFactory = _ => "squared-error" };
        var validation = new Option<double>("--validation") { Description = "fraction of boxes held out for validation", DefaultValueFactory = _ => defaults.ValidationFraction };
        var ratio = new Option<double>("--negative-ratio") { Description = "random non-particle boxes per particle box", DefaultValueFactory = _ => 2.0 };
        var symmetries = new Option<int>("--symmetries") { Description = "each box trained in its 4 rotations (the paper's) or 8 symmetries (with the mirror images)", DefaultValueFactory = _ => defaults.Symmetries };
        var sparseRound = new Option<string>("--sparse-round") { Description = "auto: when the labels are sparse, train a second time with random non-particles also kept clear of the first model's picks; off: one training", DefaultValueFactory = _ => "auto" };
        var distance = new Option<double>("--negative-distance") { Description = "least distance of random negatives from any pick, as a fraction of the box", DefaultValueFactory = _ => 0.3 };

        var command = new Command("train", "Train a model from micrographs and picked centres (positives) plus sampled non-particles.")
        {
            micrographs, coords, box, output, bin, epochs, seed, init, negatives, preset, device, batch, rate, momentum, loss,
            validation, ratio, distance, symmetries, sparseRound,
        };
        foreach (var o in cluster.All) command.Options.Add(o);
        command.SetAction(parse => Terminal.Run(() =>
        {
            var address = cluster.JoinAddress(parse);
            cluster.RefuseWithoutJoin(parse);
            var expansion = InputPaths.Expand(parse.GetValue(micrographs)!, MicrographReader.IsMicrographFile);
            foreach (var missing in expansion.Missing) Terminal.Error(missing);
            LossKind lossKind;
            try
            {
                lossKind = LossNames.Parse(parse.GetValue(loss)!);
            }
            catch (ArgumentException)
            {
                throw new UsageException($"--loss {parse.GetValue(loss)}: squared-error or cross-entropy");
            }
            var options = new TrainingOptions
            {
                BatchSize = Positive(parse.GetValue(batch), "--batch"),
                Momentum = parse.GetValue(momentum),
                Seed = parse.GetValue(seed),
                ValidationFraction = parse.GetValue(validation),
                Loss = lossKind,
                Symmetries = parse.GetValue(symmetries) is 4 or 8 ? parse.GetValue(symmetries) : throw new UsageException($"--symmetries {parse.GetValue(symmetries)}: 4 or 8"),
            };
            DeviceChoice deviceChoice;
            try
            {
                deviceChoice = BackendFactory.Parse(parse.GetValue(device)!);
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }
            var request = new TrainingRequest
            {
                Micrographs = expansion.Files,
                Coordinates = parse.GetValue(coords)!,
                Negatives = parse.GetValue(negatives),
                BoxSize = parse.GetValue(box),
                Binning = parse.GetValue(bin),
                // Only when given: with --init the model's own network is the default.
                Preset = parse.GetResult(preset) is { Implicit: false } ? parse.GetValue(preset) : null,
                InitModel = parse.GetValue(init),
                Device = deviceChoice,
                Options = options,
                LearningRate = parse.GetValue(rate),
                Epochs = parse.GetValue(epochs) is { } n ? Positive(n, "--epochs") : null,
                NegativeRatio = parse.GetValue(ratio),
                NegativeDistanceFraction = parse.GetValue(distance),
                SparseLabelRound = parse.GetValue(sparseRound) switch
                {
                    "auto" => true,
                    "off" => false,
                    var other => throw new UsageException($"--sparse-round {other}: auto or off"),
                },
            };
            var path = parse.GetValue(output)!;
            var progress = new ConsoleProgress(Console.Out, "epochs");
            using var interruption = new Interruption();
            var engine = ClusterTraining.Engine(path, address is null ? null : cluster.ClientNode(parse, address), Terminal.Verbose, progress.Lines, interruption.Token);
            TrainingOutcome outcome;
            try
            {
                outcome = TrainingWorkflow.Run(request, progress.Line, engine: engine, progress: (report, round) =>
                {
                    // The second round of sparse labels counts its epochs from 1 again: a bar and lines of its own.
                    var (key, label) = round == 1 ? ("training", "training") : ($"training-{round}", "training, second round");
                    progress.Report(key, label, report.Epoch, report.Epochs);
                    progress.Line(string.Create(CultureInfo.InvariantCulture,
                        $"{(round == 1 ? "" : "second round: ")}epoch {report.Epoch,3}/{report.Epochs}  loss {report.TrainingLoss:0.0000}  validation loss {report.ValidationLoss:0.0000}  accuracy {report.ValidationAccuracy:P1}  {report.BoxesPerSecond:0} boxes/s  {ConsoleProgress.Duration(report.Remaining)} left{(report.Best ? "  *" : "")}"));
                });
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }
            catch (CampaignRejectedException e)
            {
                Terminal.Error(e.Message);
                return ExitCodes.Fatal;
            }
            catch (OperationCanceledException)
            {
                Terminal.Error(address is null
                    ? $"{path}: interrupted; the training's checkpoint is kept in {Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, ".deepem")}, and the same command resumes it"
                    : $"{path}: interrupted; the training goes on in the cluster, and the same command follows it again");
                return ExitCodes.Fatal;
            }
            finally
            {
                progress.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            foreach (var failure in outcome.Data.Failures) Terminal.Error(failure);
            AtomicFile.WriteAllBytes(path, outcome.Model.ToBytes());
            var r = outcome.Result;
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"best epoch {r.BestEpoch}: validation accuracy {r.ValidationAccuracy:P1} at 0.5, loss {r.ValidationLoss:0.0000} ({r.ValidationBoxes} boxes, 4 rotations each)"));
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"picking threshold {outcome.Model.Threshold:0.###}; on validation boxes the F2-best was {r.Threshold.Threshold:0.###} (precision {r.Threshold.Precision:P1}, recall {r.Threshold.Recall:P1}); particle std range {outcome.Model.StdMin:0.###}..{outcome.Model.StdMax:0.###}"));
            Console.Out.WriteLine($"wrote {path} (model {outcome.Model.ParametersHash[..12]})");
            return expansion.Missing.Count + outcome.Data.Failures.Count > 0 ? ExitCodes.SomeInputsFailed : ExitCodes.Success;
        }));
        return command;
    }

    private static int Positive(int value, string flag) => value > 0 ? value : throw new UsageException($"{flag} {value}: must be positive");
}
