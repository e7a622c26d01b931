using System.CommandLine;
using System.Globalization;
using DeepEM.Cli.Infrastructure;
using DeepEM.Cli.Workflows;
using DeepEM.Cluster.Clients;
using DeepEM.Cluster.Models;
using DeepEM.Formats;
using DeepEM.Formats.Coordinates;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.ModelFile;
using DeepEM.Pipeline.Arrivals;
using DeepEM.Pipeline.Picking;
using DeepEM.Pipeline.Training;

namespace DeepEM.Cli.Commands;

/// <summary>
/// <c>deepem pick</c>: one coordinate file per micrograph and an index; re-running resumes. A campaign on the
/// embedded one-node cluster, or on the cluster <c>--join</c> names.
/// </summary>
public static class PickCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "model file (.deepem)", Required = true };
        var micrographs = new Option<string[]>("--micrographs") { Description = "micrograph files, folders, glob patterns or a RELION micrographs.star", Required = true, AllowMultipleArgumentsPerToken = true, Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out") { Description = "output folder", Required = true };
        var threshold = new Option<string>("--threshold") { Description = "auto (the model's threshold: F1-best on its training micrographs), auto-f1, auto-f2 (the paper's: recall weighted above precision) or a score in 0..1", DefaultValueFactory = _ => "auto" };
        var step = new Option<int?>("--step") { Description = "raster step in pixels (default: one binned pixel, every position)" };
        var format = new Option<string>("--format") { Description = "coordinate files to write: star,box,topaz,csv", DefaultValueFactory = _ => "star,box" };
        var naive = new Option<bool>("--naive") { Description = "the paper's box-by-box raster scan (reference; slow)" };
        var cluster = new ClientOptions("host:port of a cluster node: the campaign runs on its cluster (default: a one-node cluster in this process)");
        var distance = new Option<double?>("--distance") { Description = "least distance between picks in pixels (default: a quarter box, about a particle radius)" };
        var edge = new Option<string>("--edge") { Description = "drop: score only boxes inside the micrograph; keep: pad so particles at the edge are scored", DefaultValueFactory = _ => "drop" };
        var stdRange = new Option<string?>("--std-range") { Description = "MIN,MAX pixel standard deviation of particles (default: the model's range)" };
        var noStd = new Option<bool>("--no-std-filter") { Description = "keep picks whatever their standard deviation" };
        var device = new Option<string>("--device") { Description = "auto (the first GPU, else the CPU), cpu, gpu (every GPU, a picking lane each) or ilgpu-cpu", DefaultValueFactory = _ => "auto" };
        var relion = new Option<bool>("--relion-layout") { Description = "name each micrograph's files by its path as given (OUT/Micrographs/x.star for Micrographs/x.mrc), where RELION 3.1 looks for them; the default when --micrographs is a RELION micrographs.star" };
        var watch = new Option<bool>("--watch") { Description = "keep picking what lands in the --micrographs folders or patterns until Ctrl-C, OUT/DEEPEM_STOP or --idle" };
        var settle = new Option<double>("--settle") { Description = "with --watch: seconds a file must stay the same size and time to count as completely written (a rename into place counts at once)", DefaultValueFactory = _ => 3 };
        var rescan = new Option<double>("--rescan") { Description = "with --watch: seconds between listings of the watched folders (the safety net for file systems without events, such as NFS)", DefaultValueFactory = _ => 30 };
        var idle = new Option<double?>("--idle") { Description = "with --watch: end after this many minutes with nothing new" };
        var command = new Command("pick", "Pick particles in every micrograph and write one coordinate file per micrograph plus an index.")
        {
            model, micrographs, output, threshold, step, format, naive, distance, edge, stdRange, noStd, device, relion, watch, settle, rescan, idle,
        };
        foreach (var o in cluster.All) command.Options.Add(o);
        command.SetAction(parse => Terminal.Run(() =>
        {
            var settings = new PickSettings
            {
                Threshold = ParseThreshold(parse.GetValue(threshold)!, out var criterion),
                Step = parse.GetValue(step) is { } s ? (s > 0 ? s : throw new UsageException($"--step {s}: must be positive")) : null,
                Distance = parse.GetValue(distance),
                Edge = parse.GetValue(edge) switch
                {
                    "drop" => EdgeMode.Drop,
                    "keep" => EdgeMode.Keep,
                    var other => throw new UsageException($"--edge {other}: drop or keep"),
                },
                StdFilter = !parse.GetValue(noStd),
                StdRange = ParseRange(parse.GetValue(stdRange)),
                Naive = parse.GetValue(naive),
            };
            var formats = ParseFormats(parse.GetValue(format)!);
            var deviceChoice = ParseDevice(parse.GetValue(device)!);
            var address = cluster.JoinAddress(parse);
            cluster.RefuseWithoutJoin(parse);
            var modelPath = parse.GetValue(model)!;
            // Flags first: a usage error is said before the model is read.
            List<string> givenFiles = [], missingFiles = [];
            var watchOptions = parse.GetValue(watch)
                ? WatchOptionsOf(parse.GetValue(micrographs)!, parse.GetValue(settle), parse.GetValue(rescan), parse.GetValue(idle), out givenFiles, out missingFiles)
                : null;
            if (watchOptions is null && new Option[] { settle, rescan, idle }.Any(o => parse.GetResult(o) is { Implicit: false }))
            {
                throw new UsageException("--settle, --rescan and --idle go with --watch");
            }
            // Read, hashed and parsed once in this process: the campaign's spec, the coordinator and the worker get the same.
            var (trained, modelFile) = ParsedModels.Load(modelPath);
            settings = settings with { Threshold = settings.Threshold ?? ModelThreshold(trained, modelPath, parse.GetValue(threshold)!, criterion!) };
            if (watchOptions is not null)
            {
                // A named file that is not there is one line, as without --watch; the watch goes on.
                foreach (var missing in missingFiles) Terminal.Error($"{missing}: no such file");
                return Watch(modelPath, trained, givenFiles, watchOptions, parse.GetValue(output)!, settings, formats, deviceChoice, parse.GetValue(relion),
                    address is null ? null : cluster.ClientNode(parse, address), missingFiles.Count);
            }
            var expansion = InputPaths.Expand(parse.GetValue(micrographs)!, MicrographReader.IsMicrographFile);
            foreach (var missing in expansion.Missing) Terminal.Error(missing);
            var relionLayout = parse.GetValue(relion) || expansion.FromStarFile;
            // In a RELION layout a micrograph's files are named by its path: one whose path leads out of the project folder
            // ("..") cannot be, and is reported on its own line while the others are picked.
            var refused = 0;
            var files = expansion.Files.Where(f =>
            {
                if (!relionLayout) return true;
                try
                {
                    CampaignSpecs.RelionName(f);
                    return true;
                }
                catch (ArgumentException e)
                {
                    Terminal.Error(e.Message);
                    refused++;
                    return false;
                }
            }).ToList();
            var outDir = parse.GetValue(output)!;
            PickingCampaignResult result;
            using var interruption = new Interruption();
            try
            {
                result = PickingCampaign.RunAsync(modelPath, trained, files, outDir, settings, formats, deviceChoice, relionLayout,
                        address is null ? null : cluster.ClientNode(parse, address), Terminal.Verbose, Console.Out, interruption.Token, modelFile.Sha256)
                    .GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                Terminal.Error(address is null
                    ? $"{outDir}: interrupted; what was picked is kept, and the same command resumes the rest"
                    : $"{outDir}: interrupted; the campaign goes on in the cluster, and the same command follows it again");
                return ExitCodes.Fatal;
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
            foreach (var f in result.Failures) Terminal.Error($"{f.Name}: {f.Error}");
            if (result.FailedCount > result.Failures.Count) Terminal.Error($"... and {result.FailedCount - result.Failures.Count} more failed micrographs (deepem status lists the campaign)");
            var failedCount = result.FailedCount + expansion.Missing.Count + refused;
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"picked {result.Picked} micrographs ({result.Particles} particles) in {result.Elapsed.TotalSeconds:0.0} s") +
                (result.AlreadyDone > 0 ? $", {result.AlreadyDone} already done (skipped)" : "") +
                (failedCount > 0 ? $", {failedCount} failed" : "") + "; " + PeakMemory.Describe());
            Console.Out.WriteLine($"  coordinates: {outDir}");
            Console.Out.WriteLine($"  index: {Path.Combine(outDir, "autopick.star")}");
            Console.Out.WriteLine($"  campaign summary: {Path.Combine(outDir, "campaign.json")}");
            return failedCount > 0 ? ExitCodes.SomeInputsFailed : ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>The watched places of --micrographs (folders and patterns) and the files named as they are.</summary>
    private static WatchOptions WatchOptionsOf(string[] arguments, double settle, double rescan, double? idle, out List<string> files, out List<string> missing)
    {
        if (!(settle > 0 && settle <= 3600)) throw new UsageException($"--settle {settle}: seconds, more than 0 and at most 3600");
        if (!(rescan >= 1 && rescan <= 3600)) throw new UsageException($"--rescan {rescan}: seconds, 1 to 3600");
        if (idle is { } i && !(i > 0)) throw new UsageException($"--idle {i}: minutes, more than 0");
        var places = new List<WatchedPlace>();
        files = [];
        missing = [];
        foreach (var argument in arguments)
        {
            if (WatchedPlace.Of(argument) is { } place)
            {
                if (!Directory.Exists(place.Folder)) throw new UsageException($"{argument}: --watch needs the folder {place.Folder} to exist");
                places.Add(place);
            }
            else if (argument.EndsWith(".star", StringComparison.OrdinalIgnoreCase))
            {
                throw new UsageException($"{argument}: --watch watches folders or patterns (Movies/*.mrc), not a RELION list");
            }
            else if (File.Exists(argument))
            {
                files.Add(argument);
            }
            else
            {
                missing.Add(argument);
            }
        }
        if (places.Count == 0) throw new UsageException("--watch needs a folder or a pattern in --micrographs to watch");
        return new WatchOptions(places, TimeSpan.FromSeconds(settle), TimeSpan.FromSeconds(rescan), idle is { } minutes ? TimeSpan.FromMinutes(minutes) : null);
    }

    private static int Watch(string modelPath, Numerics.ModelFile.TrainedModel trained, IReadOnlyList<string> files, WatchOptions options, string outDir,
        PickSettings settings, IReadOnlyList<CoordinateFormat> formats, DeviceChoice device, bool relionLayout, Cluster.Nodes.NodeOptions? client,
        int missing)
    {
        using var interruption = new Interruption();
        WatchedCampaignResult watched;
        try
        {
            watched = WatchedCampaign.RunAsync(modelPath, trained, files, options, outDir, settings, formats, device, relionLayout, client,
                Terminal.Verbose, Console.Out, Terminal.Error, interruption.Token).GetAwaiter().GetResult();
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
        var (result, final, _) = watched;
        var failed = result.FailedCount + missing;
        // Each failure was reported as it happened.
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"picked {result.Picked} micrographs ({result.Particles} particles) in {result.Elapsed.TotalSeconds:0.0} s") +
            (result.AlreadyDone > 0 ? $", {result.AlreadyDone} already done (skipped)" : "") +
            (failed > 0 ? $", {failed} failed" : "") + "; " + PeakMemory.Describe());
        if (final.LatencyCount > 0)
        {
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  latency from complete file to picks: median {final.LatencyMedianSeconds:0.0} s, 95th percentile {final.LatencyP95Seconds:0.0} s, most {final.LatencyMaxSeconds:0.0} s ({final.LatencyCount} micrographs)"));
        }
        Console.Out.WriteLine($"  coordinates: {result.OutDir}");
        Console.Out.WriteLine($"  index: {Path.Combine(result.OutDir, "autopick.star")}");
        Console.Out.WriteLine($"  campaign summary: {Path.Combine(result.OutDir, "campaign.json")}");
        return failed > 0 ? ExitCodes.SomeInputsFailed : ExitCodes.Success;
    }

    private static float? ParseThreshold(string text, out string? criterion)
    {
        criterion = ThresholdCalibration.CriterionOf(text);
        if (criterion is not null) return null;
        if (float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var t) && t is >= 0 and <= 1) return t;
        throw new UsageException($"--threshold {text}: auto, auto-f1, auto-f2 or a number in 0..1");
    }

    /// <summary>
    /// The model's threshold for a criterion, said with the precision and recall its calibration expects; "auto" is
    /// the model's own criterion. A model trained before thresholds were stored per criterion has one threshold, the
    /// F2-best: "auto" and "auto-f2" take it, "auto-f1" is refused. The model's own threshold stays null in the
    /// settings, as campaigns have always recorded it.
    /// </summary>
    private static float? ModelThreshold(TrainedModel model, string path, string text, string criterion)
    {
        var record = model.Training;
        if (text == "auto" && record.DefaultCriterion.Length > 0) criterion = record.DefaultCriterion;
        var stored = record.Thresholds.FirstOrDefault(t => t.Criterion == criterion);
        if (stored is null)
        {
            var single = record.ThresholdSource.StartsWith("F2-best", StringComparison.Ordinal) ? ThresholdCalibration.F2 : null;
            if (record.Thresholds.Count == 0 && (text == "auto" || criterion == single)) return null;
            throw new UsageException($"{path}: the model has no auto-{criterion} threshold (trained before thresholds were stored per criterion, or its calibration found no picks); use auto or a number");
        }
        var labelled = record.LabelledFraction < 1
            ? string.Create(CultureInfo.InvariantCulture, $", about {record.LabelledFraction:P0} of their particles labelled")
            : "";
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"threshold {stored.Threshold:0.###} (auto-{criterion}: precision {stored.Precision:0.00}, recall {stored.Recall:0.00} expected, from picking the training micrographs{labelled})"));
        return criterion == record.DefaultCriterion ? null : (float)stored.Threshold;
    }

    private static (float, float)? ParseRange(string? text)
    {
        if (text is null) return null;
        var parts = text.Split(',');
        if (parts.Length == 2 && float.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var lo)
            && float.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var hi) && lo <= hi)
        {
            return (lo, hi);
        }
        throw new UsageException($"--std-range {text}: MIN,MAX with MIN <= MAX");
    }

    internal static IReadOnlyList<CoordinateFormat> ParseFormats(string text)
    {
        var formats = new List<CoordinateFormat>();
        foreach (var f in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            formats.Add(f switch
            {
                "star" => CoordinateFormat.Star,
                "box" => CoordinateFormat.Box,
                "topaz" => CoordinateFormat.Topaz,
                "csv" => CoordinateFormat.Csv,
                _ => throw new UsageException($"--format {text}: star, box, topaz or csv"),
            });
        }
        // The .star is always written: it marks a micrograph as done and feeds the index.
        if (!formats.Contains(CoordinateFormat.Star)) formats.Add(CoordinateFormat.Star);
        return formats.Distinct().ToList();
    }

    internal static DeviceChoice ParseDevice(string text)
    {
        try
        {
            return BackendFactory.Parse(text);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
    }
}
