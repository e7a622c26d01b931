using System.CommandLine;
using DeepEM.Cli.Infrastructure;
using DeepEM.Cli.Workflows;
using DeepEM.Simulation;

namespace DeepEM.Cli.Commands;

/// <summary><c>deepem simulate</c>: micrographs with known particle centres, for tests, the demo and benchmarks.</summary>
public static class SimulateCommand
{
    public static Command Create()
    {
        var defaults = new SimulationSettings();
        var outOption = new Option<string>("--out") { Description = "output folder (micrographs/ and truth/ are written inside)", Required = true };
        var countOption = new Option<int>("--count") { Description = "number of micrographs", DefaultValueFactory = _ => 4 };
        var sizeOption = new Option<int>("--size") { Description = "width and height in pixels", DefaultValueFactory = _ => defaults.Size };
        var boxOption = new Option<int>("--box") { Description = "particle box size in pixels (the particle spans 60% of it)", DefaultValueFactory = _ => defaults.BoxSize };
        var seedOption = new Option<ulong>("--seed") { Description = "random seed: same seed, same bytes", DefaultValueFactory = _ => 1 };
        var pixelOption = new Option<double>("--pixel-size") { Description = "pixel size in Å", DefaultValueFactory = _ => defaults.PixelSizeAngstrom };
        var snrOption = new Option<double>("--snr") { Description = "particle signal variance over shot-noise variance", DefaultValueFactory = _ => defaults.Snr };
        var doseOption = new Option<double>("--dose") { Description = "electrons per pixel", DefaultValueFactory = _ => defaults.DosePerPixel };
        var particlesOption = new Option<int?>("--particles") { Description = "particles per micrograph (default: about 12% of the area covered)" };
        var carbonOption = new Option<double>("--carbon") { Description = "probability of a carbon edge per micrograph", DefaultValueFactory = _ => defaults.CarbonProbability };
        var contaminantsOption = new Option<double>("--contaminants") { Description = "mean number of contaminants per micrograph", DefaultValueFactory = _ => defaults.ContaminantsPerMicrograph };
        var touchingOption = new Option<double>("--touching") { Description = "fraction of particles placed touching a neighbour", DefaultValueFactory = _ => defaults.TouchingFraction };

        var command = new Command("simulate", "Simulate micrographs (MRC) with their true particle centres (.star): CTF, shot noise, ice, carbon, contaminants.")
        {
            outOption, countOption, sizeOption, boxOption, seedOption, pixelOption, snrOption, doseOption, particlesOption,
            carbonOption, contaminantsOption, touchingOption,
        };
        command.SetAction(parse => Terminal.Run(() =>
        {
            var count = parse.GetValue(countOption);
            if (count < 1) throw new UsageException($"--count {count}: at least one micrograph");
            var settings = defaults with
            {
                Size = parse.GetValue(sizeOption),
                BoxSize = parse.GetValue(boxOption),
                PixelSizeAngstrom = parse.GetValue(pixelOption),
                Snr = parse.GetValue(snrOption),
                DosePerPixel = parse.GetValue(doseOption),
                ParticlesPerMicrograph = parse.GetValue(particlesOption),
                CarbonProbability = parse.GetValue(carbonOption),
                ContaminantsPerMicrograph = parse.GetValue(contaminantsOption),
                TouchingFraction = parse.GetValue(touchingOption),
            };
            try
            {
                settings.Validate();
            }
            catch (ArgumentOutOfRangeException e)
            {
                throw new UsageException(e.Message.Split(" (Parameter")[0]);
            }
            var outDir = parse.GetValue(outOption)!;
            var result = SimulatedDataset.Write(outDir, settings, count, parse.GetValue(seedOption),
                line => { lock (Console.Out) Console.Out.WriteLine(line); });
            Console.Out.WriteLine(
                $"wrote {result.Micrographs.Count} micrographs ({settings.Size}x{settings.Size}, {settings.PixelSizeAngstrom} Å/px) with {result.Particles} particles in {result.Elapsed.TotalSeconds:0.0} s");
            Console.Out.WriteLine($"  micrographs: {Path.Combine(outDir, "micrographs")}");
            Console.Out.WriteLine($"  true centres: {Path.Combine(outDir, "truth")}");
            return ExitCodes.Success;
        }));
        return command;
    }
}
