using System.CommandLine;
using System.Globalization;
using DeepEM.Classification;
using DeepEM.Cli.Infrastructure;
using DeepEM.Cli.Workflows;
using DeepEM.Cluster.Classification;
using DeepEM.Cluster.Clients;
using DeepEM.Figures;
using DeepEM.Formats;
using DeepEM.Formats.Coordinates;
using DeepEM.Pipeline.Classification;

namespace DeepEM.Cli.Commands;

/// <summary>
/// <c>deepem classify</c>: reference-free 2D classes of the picks, to see which are particles (consistent views) and
/// which are junk. Writes OUT/classes.png, OUT/classes.star and OUT/classes.mrcs; <c>deepem select</c> turns junk
/// classes into negatives for <c>deepem train --init</c>.
/// </summary>
public static class ClassifyCommand
{
    /// <summary>Shards at most, unless a shard would then hold more than this many picks (the parts stay small messages).</summary>
    public const int MaxShards = 64;
    public const int PicksPerShard = 20000;

    public static Command Create()
    {
        var defaults = new ClassificationOptions();
        var micrographs = new Option<string[]>("--micrographs") { Description = "micrograph files, folders, glob patterns or a RELION micrographs.star", Required = true, AllowMultipleArgumentsPerToken = true, Arity = ArgumentArity.OneOrMore };
        var picks = new Option<string>("--picks") { Description = "folder (or file) of picks, matched to micrographs by name (deepem pick's output, or any coordinate format)", Required = true };
        var box = new Option<int>("--box") { Description = "box size in pixels of the micrographs as given", Required = true };
        var classes = new Option<int>("--classes") { Description = "number of classes", Required = true };
        var output = new Option<string>("--out") { Description = "output folder", Required = true };
        var bin = new Option<int?>("--bin") { Description = $"binning factor (default: the smallest that brings the box to {ExtractionSettings.DefaultMaxBinnedBox} px or less)" };
        var diameter = new Option<double?>("--diameter") { Description = "mask diameter in pixels (default: 0.8 box)" };
        var maxShift = new Option<double?>("--max-shift") { Description = "largest shift searched, in pixels (default: 0.1 box)" };
        var rounds = new Option<int>("--iterations") { Description = "rounds of alignment to all class averages", DefaultValueFactory = _ => defaults.AlignmentRounds };
        var seed = new Option<ulong>("--seed") { Description = "random seed (k-means seeding): same seed and picks, same classes", DefaultValueFactory = _ => defaults.Seed };
        var cluster = new ClientOptions("host:port of a cluster node: its worker nodes cut and align the particles (default: a one-node cluster in this process)");
        var command = new Command("classify", "Reference-free 2D classification of the picked particles: class averages (classes.png), each pick's class (classes.star).")
        {
            micrographs, picks, box, classes, output, bin, diameter, maxShift, rounds, seed,
        };
        foreach (var o in cluster.All) command.Options.Add(o);
        command.SetAction(parse => Terminal.Run(() =>
        {
            var address = cluster.JoinAddress(parse);
            cluster.RefuseWithoutJoin(parse);
            ExtractionSettings settings;
            ClassificationOptions options;
            try
            {
                settings = ExtractionSettings.For(parse.GetValue(box), parse.GetValue(bin), parse.GetValue(diameter), parse.GetValue(maxShift));
                settings.Geometry();
                options = defaults with { Classes = parse.GetValue(classes), AlignmentRounds = parse.GetValue(rounds), Seed = parse.GetValue(seed) };
                options.Validate();
            }
            catch (ArgumentOutOfRangeException e)
            {
                throw new UsageException(e.Message.Split(" (Parameter")[0]);
            }
            var expansion = InputPaths.Expand(parse.GetValue(micrographs)!, MicrographReader.IsMicrographFile);
            foreach (var missing in expansion.Missing) Terminal.Error(missing);
            var picksPath = parse.GetValue(picks)!;
            var coordinates = CoordinateFiles.ReadAll(picksPath);
            var inputs = new List<MicrographPicks>();
            var withoutPicks = 0;
            foreach (var path in expansion.Files)
            {
                var name = MicrographReader.NameOf(path);
                if (coordinates.TryGetValue(name, out var list)) inputs.Add(new MicrographPicks(Path.GetFullPath(path), name, list));
                else withoutPicks++;
            }
            if (withoutPicks > 0) Console.Out.WriteLine($"{withoutPicks} micrograph{(withoutPicks == 1 ? " has" : "s have")} no picks in {picksPath}: not classified");
            var total = inputs.Sum(i => (long)i.Picks.Count);
            if (total == 0) throw new UsageException($"--picks {picksPath}: no picks for any of the {expansion.Files.Count} micrographs (matched by file name without extension)");
            var shards = ParticleShards.Plan(inputs, (int)Math.Max(MaxShards, (total + PicksPerShard - 1) / PicksPerShard));
            var job = new ClassificationJob("", settings, options, shards);
            job = job with { JobId = ClusterClassification.JobId(job) };
            try
            {
                job.CheckMessageSizes();
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }
            var outDir = parse.GetValue(output)!;
            ClassificationOutcome outcome;
            using var interruption = new Interruption();
            try
            {
                outcome = ClusterClassification.RunAsync(job, outDir, address is null ? null : cluster.ClientNode(parse, address), Terminal.Verbose, Console.Out,
                    interruption.Token).GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                Terminal.Error($"{outDir}: interrupted; nothing was written, and the same command runs the classification again");
                return ExitCodes.Fatal;
            }
            catch (Exception e) when (e is ClassificationFailedException or CampaignRejectedException)
            {
                Terminal.Error(e.Message);
                return ExitCodes.Fatal;
            }
            foreach (var failure in outcome.Failures) Terminal.Error(failure);
            var result = outcome.Result;
            ClassificationOutputs.Write(outDir, result, shards, settings, PixelSize(inputs[0].Path));
            ClassGallery.Write(Path.Combine(outDir, ClassificationOutputs.GalleryName), result,
                $"{result.Particles} particles, {result.Classes.Count} classes ({Path.GetFileName(Path.GetFullPath(picksPath))})");
            var percent = 100.0 / Math.Max(1, result.Particles);
            Console.Out.WriteLine(FormattableString.Invariant(
                $"classified {result.Particles} particles into {result.Classes.Count} classes on {outcome.Nodes.Count} node{(outcome.Nodes.Count == 1 ? "" : "s")}") +
                (outcome.Skipped > 0 ? $" ({outcome.Skipped} picks too near an edge left out)" : ""));
            foreach (var c in result.Classes.OrderByDescending(c => c.Count).ThenBy(c => c.Number))
            {
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  class {c.Number,3}: {c.Count,7} particles ({c.Count * percent,5:0.0}%)  contrast {c.Contrast:0.000}  score {c.MeanScore:0.000}"));
            }
            Console.Out.WriteLine($"  gallery: {Path.Combine(outDir, ClassificationOutputs.GalleryName)}");
            Console.Out.WriteLine($"  classes: {Path.Combine(outDir, ClassificationOutputs.StarName)} (averages in {ClassificationOutputs.StackName})");
            Console.Out.WriteLine($"  junk classes become negatives with: deepem select --classes {Path.Combine(outDir, ClassificationOutputs.StarName)} --junk N,M --out DIR");
            return expansion.Missing.Count + outcome.Failures.Count > 0 ? ExitCodes.SomeInputsFailed : ExitCodes.Success;
        }));
        return command;
    }

    private static double? PixelSize(string path)
    {
        try
        {
            return MicrographReader.Read(path).PixelSizeAngstrom;
        }
        catch (BadInputException)
        {
            return null;
        }
    }
}
