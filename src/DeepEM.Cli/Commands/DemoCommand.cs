using System.CommandLine;
using System.Globalization;
using DeepEM.Cli.Infrastructure;
using DeepEM.Cli.Workflows;
using DeepEM.Figures;
using DeepEM.Formats.Coordinates;
using DeepEM.Formats.IO;
using DeepEM.Numerics.Training;
using DeepEM.Pipeline.Evaluation;
using DeepEM.Pipeline.Picking;
using DeepEM.Pipeline.Training;
using DeepEM.Simulation;

namespace DeepEM.Cli.Commands;

/// <summary>
/// <c>deepem demo</c>: the main job end to end on one machine: simulate ten micrographs, train on eight,
/// pick all ten, and evaluate on the two the network never saw.
/// </summary>
public static class DemoCommand
{
    private const int Count = 10;
    private const int Training = 8;

    public static Command Create()
    {
        var outOption = new Option<string>("--out") { Description = "folder for everything the demo writes", DefaultValueFactory = _ => "deepem-demo" };
        var command = new Command("demo", "Simulate a small dataset, train, pick and evaluate, on one machine.") { outOption };
        command.SetAction(parse => Terminal.Run(() =>
        {
            var outDir = parse.GetValue(outOption)!;
            var dataDir = Path.Combine(outDir, "data");
            var settings = new SimulationSettings();
            Console.Out.WriteLine($"1/4 simulate: {Count} micrographs of {settings.Size} x {settings.Size} px, box {settings.BoxSize} px -> {dataDir}");
            var sim = SimulatedDataset.Write(dataDir, settings, Count, seed: 2016);
            Console.Out.WriteLine($"    {sim.Particles} particles in {sim.Elapsed.TotalSeconds:0.0} s");

            var truthDir = Path.Combine(dataDir, "truth");
            var modelPath = Path.Combine(outDir, "model.deepem");
            Console.Out.WriteLine($"2/4 train on micrographs 0-{Training - 1} -> {modelPath}, data-parallel on the embedded one-node cluster");
            var request = new TrainingRequest
            {
                Micrographs = sim.Micrographs.Take(Training).ToList(),
                Coordinates = truthDir,
                BoxSize = settings.BoxSize,
                Options = new TrainingOptions { Seed = 1 },
                Epochs = 12,
            };
            var trainingOutput = new IndentedWriter(Console.Out, "    ");
            var trained = TrainingWorkflow.Run(request, line => Console.Out.WriteLine($"    {line}"),
                engine: ClusterTraining.Engine(modelPath, client: null, Terminal.Verbose, trainingOutput), progress: (e, round) =>
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"    {(round == 1 ? "" : "second round: ")}epoch {e.Epoch,2}/{e.Epochs}  loss {e.TrainingLoss:0.0000}  validation accuracy {e.ValidationAccuracy:P1}  {e.BoxesPerSecond:0} boxes/s  {e.Remaining.TotalSeconds:0} s left")));
            AtomicFile.WriteAllBytes(modelPath, trained.Model.ToBytes());

            var picksDir = Path.Combine(outDir, "picks");
            Console.Out.WriteLine($"3/4 pick all {Count} micrographs -> {picksDir}, a campaign on the embedded one-node cluster");
            var indented = new IndentedWriter(Console.Out, "    ");
            // The model as pick reads it, and the hash of those bytes: the first micrograph is picked while the cluster forms.
            var (model, modelFile) = Cluster.Models.ParsedModels.Load(modelPath);
            var summary = PickingCampaign.RunAsync(modelPath, model, sim.Micrographs, picksDir, new PickSettings(), PickSettings.DefaultFormats, Numerics.Backends.DeviceChoice.Auto, relionLayout: false, client: null,
                Terminal.Verbose, indented, modelSha256: modelFile.Sha256).GetAwaiter().GetResult();
            if (summary.Failures.Count > 0) throw new InvalidOperationException($"{summary.Failures[0].Name}: {summary.Failures[0].Error}");
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"    {summary.Particles} particles in {summary.Elapsed.TotalSeconds:0.0} s (campaign summary: {Path.Combine(picksDir, "campaign.json")})"));

            Console.Out.WriteLine($"4/4 evaluate on micrographs {Training}-{Count - 1}, which training never saw (match radius: a quarter box)");
            var heldOut = Enumerable.Range(Training, Count - Training).Select(SimulatedDataset.NameOf).ToHashSet();
            var truth = CoordinateFiles.ReadAll(truthDir).Where(kv => heldOut.Contains(kv.Key)).ToDictionary();
            var picks = CoordinateFiles.ReadAll(picksDir).Where(kv => heldOut.Contains(kv.Key)).ToDictionary();
            var report = PickEvaluation.Evaluate(picks, truth, settings.BoxSize / 4.0);
            var curves = Path.Combine(outDir, "curves.png");
            EvaluationFigures.WriteCurves(report, curves, "demo, held-out micrographs");
            var overlay = Path.Combine(outDir, $"{SimulatedDataset.NameOf(Training)}-overlay.png");
            var first = SimulatedDataset.NameOf(Training);
            EvaluationFigures.WriteOverlay(Formats.MicrographReader.Read(sim.Micrographs[Training]).Image, picks[first], truth[first],
                settings.BoxSize / 4.0, trained.Model.Threshold, settings.ParticleDiameter / 2, overlay, first);

            var s = report.AllPicks;
            Console.Out.WriteLine();
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"precision {s.Precision:0.000}  recall {s.Recall:0.000}  F1 {s.F1:0.000}  ({s.TruePositives} of {s.Picks} picks true, {s.TruePositives + s.FalseNegatives} particles)"));
            Console.Out.WriteLine($"outputs: micrographs {Path.Combine(dataDir, "micrographs")}, truth {truthDir}, model {modelPath},");
            Console.Out.WriteLine($"         picks {picksDir} (with autopick.star), curves {curves}, overlay {overlay}");
            return ExitCodes.Success;
        }));
        return command;
    }
}

/// <summary>Writes every line with a prefix (the demo indents what its steps print).</summary>
internal sealed class IndentedWriter(TextWriter inner, string prefix) : TextWriter
{
    public override System.Text.Encoding Encoding => inner.Encoding;

    public override void WriteLine(string? value) => inner.WriteLine(prefix + value);

    public override void Write(char value) => inner.Write(value);
}
