using System.CommandLine;
using System.Globalization;
using DeepEM.Cli.Infrastructure;
using DeepEM.Pipeline.Classification;

namespace DeepEM.Cli.Commands;

/// <summary>
/// <c>deepem select</c>: marks classes of a classification as junk. Their picks become negatives, the others stay
/// particles, one coordinate file per micrograph each, for the paper's refinement: <c>deepem train --coords
/// OUT/particles --negatives OUT/negatives --init MODEL</c>.
/// </summary>
public static class SelectCommand
{
    public static Command Create()
    {
        var classes = new Option<string>("--classes") { Description = "classes.star written by deepem classify", Required = true };
        var junk = new Option<string>("--junk") { Description = "comma-separated class numbers to treat as junk (see classes.png)", Required = true };
        var output = new Option<string>("--out") { Description = "output folder: OUT/particles and OUT/negatives", Required = true };
        var command = new Command("select", "Mark classes as junk: their picks become negatives for train --init, the rest stay particles.") { classes, junk, output };
        command.SetAction(parse => Terminal.Run(() =>
        {
            var text = parse.GetValue(junk)!;
            var numbers = new List<int>();
            foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < 1)
                    throw new UsageException($"--junk {text}: class numbers (1, 2, ...) separated by commas");
                numbers.Add(n);
            }
            if (numbers.Count == 0) throw new UsageException("--junk: name at least one class");
            var outDir = parse.GetValue(output)!;
            var result = ClassSelection.Select(parse.GetValue(classes)!, numbers, outDir);
            Console.Out.WriteLine($"{result.Negatives} picks of class{(numbers.Count == 1 ? "" : "es")} {string.Join(", ", numbers)} are negatives, {result.Kept} stay particles ({result.Micrographs} micrographs)");
            Console.Out.WriteLine($"  particles: {result.ParticlesFolder}");
            Console.Out.WriteLine($"  negatives: {result.NegativesFolder}");
            Console.Out.WriteLine($"  refine with: deepem train --micrographs ... --coords {result.ParticlesFolder} --negatives {result.NegativesFolder} --init MODEL --out MODEL2");
            return ExitCodes.Success;
        }));
        return command;
    }
}
