using System.CommandLine;
using DeepEM.Cli.Infrastructure;
using DeepEM.Cli.Workflows;
using DeepEM.Simulation;

namespace DeepEM.Cli.Commands;

/// <summary>
/// <c>deepem demo</c>: the main job end to end on the embedded default. Today it simulates the dataset and
/// stops there, saying so: training, picking and evaluation are not built yet, and it prints no made-up numbers.
/// </summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var outOption = new Option<string>("--out") { Description = "folder for everything the demo writes", DefaultValueFactory = _ => "deepem-demo" };
        var command = new Command("demo", "Simulate a small dataset, train, pick and evaluate, on one machine.") { outOption };
        command.SetAction(parse => Terminal.Run(() =>
        {
            var outDir = parse.GetValue(outOption)!;
            var dataDir = Path.Combine(outDir, "data");
            Console.Out.WriteLine($"deepem demo: simulating 8 micrographs of 1024 x 1024 px into {dataDir}");
            var result = SimulatedDataset.Write(dataDir, new SimulationSettings(), 8, seed: 2016);
            Console.Out.WriteLine($"  {result.Micrographs.Count} micrographs, {result.Particles} particles, {result.Elapsed.TotalSeconds:0.0} s");
            Console.Out.WriteLine($"  micrographs: {Path.Combine(dataDir, "micrographs")}");
            Console.Out.WriteLine($"  true centres: {Path.Combine(dataDir, "truth")}");
            Console.Out.WriteLine();
            Console.Out.WriteLine("not built yet: training (deepem train), picking (deepem pick) and evaluation (deepem evaluate).");
            Console.Out.WriteLine("The demo stops after simulation; it will train, pick and print precision, recall and F1 once those exist.");
            return ExitCodes.Success;
        }));
        return command;
    }
}
