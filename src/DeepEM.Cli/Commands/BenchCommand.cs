using System.CommandLine;
using System.Globalization;
using DeepEM.Cli.Infrastructure;
using DeepEM.Numerics.Backends.Managed;
using DeepEM.Numerics.Benchmarks;
using DeepEM.Numerics.Network;

namespace DeepEM.Cli.Commands;

/// <summary><c>deepem bench</c>: how fast the managed backend runs each convolution layer, against this machine's peak.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var presets = new Option<string[]>("--preset") { Description = "presets to measure", DefaultValueFactory = _ => [Presets.Default, Presets.PaperKlh], AllowMultipleArgumentsPerToken = true };
        var seconds = new Option<double>("--seconds") { Description = "seconds per measurement", DefaultValueFactory = _ => 1.0 };
        var command = new Command("bench", "Forward and backward GFLOP/s of every convolution layer on the managed backend, beside this machine's peak.") { presets, seconds };
        command.SetAction(parse => Terminal.Run(() =>
        {
            var peak = MachinePeak.Measure();
            Console.Out.WriteLine(peak.ToString());
            Console.Out.WriteLine();
            Console.Out.WriteLine("preset      layer                                   MFLOP/box  forward GFLOP/s  back-data GFLOP/s  back-weights GFLOP/s");
            foreach (var name in parse.GetValue(presets)!)
            {
                NetworkArchitecture arch;
                try
                {
                    arch = Presets.Create(name);
                }
                catch (ArgumentException e)
                {
                    throw new UsageException(e.Message);
                }
                foreach (var r in LayerBenchmark.Run(arch, parse.GetValue(seconds)))
                {
                    var layer = $"C{2 * r.Stage - 1} {r.Shape.InChannels}->{r.Shape.OutChannels}@{r.Shape.Kernel}x{r.Shape.Kernel} on {r.Shape.InHeight}x{r.Shape.InWidth}";
                    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{name,-11} {layer,-39} {r.FlopsPerBox / 1e6,9:0.00}  {Cell(r.ForwardGFlops, peak),15}  {Cell(r.BackwardDataGFlops, peak),17}  {Cell(r.BackwardWeightsGFlops, peak),20}"));
                }
            }
            return ExitCodes.Success;
        }));
        return command;
    }

    private static string Cell(double gflops, MachinePeak peak) =>
        double.IsNaN(gflops) ? "(not needed)" : string.Create(CultureInfo.InvariantCulture, $"{gflops:0.0} ({gflops / peak.GFlops:P0})");
}
