using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using DeepEM.Cli.Infrastructure;
using DeepEM.Figures;
using DeepEM.Formats;
using DeepEM.Formats.Coordinates;
using DeepEM.Formats.IO;
using DeepEM.Pipeline.Evaluation;

namespace DeepEM.Cli.Commands;

/// <summary><c>deepem evaluate</c>: picks against true centres, with curves, JSON and pictures on request.</summary>
public static class EvaluateCommand
{
    public static Command Create()
    {
        var picks = new Option<string>("--picks") { Description = "folder (or file) of picks with scores", Required = true };
        var truth = new Option<string>("--truth") { Description = "folder (or file) of true centres", Required = true };
        var radius = new Option<double>("--radius") { Description = "a pick within this many pixels of a true centre can match it (one to one)", Required = true };
        var plot = new Option<string?>("--plot") { Description = "PNG of the precision-recall curve and the F-scores against the threshold" };
        var json = new Option<string?>("--json") { Description = "the report as JSON, for scripts" };
        var overlay = new Option<string?>("--overlay") { Description = "NAME of a micrograph to draw with its true positives, false positives and missed particles" };
        var micrographs = new Option<string[]>("--micrographs") { Description = "where --overlay finds the micrograph (files, folders or patterns)", AllowMultipleArgumentsPerToken = true };
        var overlayOut = new Option<string?>("--out") { Description = "PNG for --overlay (default NAME-overlay.png)" };
        var montage = new Option<string?>("--montage") { Description = "PNG of the strongest picks' boxes of the --overlay micrograph" };
        var box = new Option<int>("--box") { Description = "box size for the montage and the circles, in pixels", DefaultValueFactory = _ => 0 };
        var threshold = new Option<double?>("--threshold") { Description = "threshold for the overlay and --false-positives (default: the F2-best)" };
        var falsePositives = new Option<string?>("--false-positives") { Description = "folder to write each micrograph's false positives to (.star), as negatives for train --init --negatives" };
        var command = new Command("evaluate", "Precision, recall, F1, F2, PR-curve area and the F2-best threshold of picks against true centres.")
        {
            picks, truth, radius, plot, json, overlay, micrographs, overlayOut, montage, box, threshold, falsePositives,
        };
        command.SetAction(parse => Terminal.Run(() =>
        {
            var r = parse.GetValue(radius);
            if (r <= 0) throw new UsageException($"--radius {r}: must be positive");
            var picked = CoordinateFiles.ReadAll(parse.GetValue(picks)!);
            var reference = CoordinateFiles.ReadAll(parse.GetValue(truth)!);
            var report = PickEvaluation.Evaluate(picked, reference, r);
            Print(report);
            foreach (var m in report.MicrographsWithoutPicks) Terminal.Warning($"{m}: true centres but no picks (counted as all missed)");
            foreach (var m in report.PicksWithoutTruth) Terminal.Warning($"{m}: picks but no true centres (not evaluated)");
            if (parse.GetValue(plot) is { } plotPath)
            {
                EvaluationFigures.WriteCurves(report, plotPath, $"{report.Micrographs} micrographs, radius {r:0.#} px");
                Console.Out.WriteLine($"curves: {plotPath}");
            }
            if (parse.GetValue(json) is { } jsonPath)
            {
                AtomicFile.WriteAllText(jsonPath, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
                Console.Out.WriteLine($"report: {jsonPath}");
            }
            if (parse.GetValue(falsePositives) is { } fpDir)
            {
                var t = parse.GetValue(threshold) ?? report.BestF2.Threshold;
                var found = FalsePositives.Find(picked, reference, r, t);
                foreach (var (micrograph, list) in found)
                {
                    RelionStarCoordinates.Write(Path.Combine(fpDir, micrograph + ".star"), list);
                }
                Console.Out.WriteLine($"false positives: {found.Values.Sum(l => l.Count)} at threshold {t:0.###} -> {fpDir}");
            }
            if (parse.GetValue(overlay) is { } name)
            {
                var expansion = InputPaths.Expand(parse.GetValue(micrographs) ?? [], MicrographReader.IsMicrographFile);
                var file = expansion.Files.FirstOrDefault(f => MicrographReader.NameOf(f) == name)
                           ?? throw new UsageException($"--overlay {name}: no micrograph of that name among --micrographs");
                var micrograph = MicrographReader.ReadChecked(file);
                var boxSize = parse.GetValue(box);
                var particleRadius = boxSize > 0 ? boxSize / 4.0 : r;
                var t = parse.GetValue(threshold) ?? report.BestF2.Threshold;
                var outPath = parse.GetValue(overlayOut) ?? $"{name}-overlay.png";
                var (tp, fp, fn) = EvaluationFigures.WriteOverlay(micrograph.Image, picked.GetValueOrDefault(name) ?? [],
                    reference.GetValueOrDefault(name) ?? [], r, t, particleRadius, outPath, name);
                Console.Out.WriteLine($"overlay: {outPath} ({tp} true positives, {fp} false positives, {fn} missed at threshold {t:0.###})");
                if (parse.GetValue(montage) is { } montagePath)
                {
                    EvaluationFigures.WriteMontage(micrograph.Image, picked.GetValueOrDefault(name) ?? [], boxSize > 0 ? boxSize : (int)(4 * r), montagePath);
                    Console.Out.WriteLine($"montage: {montagePath}");
                }
            }
            return ExitCodes.Success;
        }));
        return command;
    }

    private static void Print(EvaluationReport report)
    {
        static string Line(string label, Scores s) => string.Create(CultureInfo.InvariantCulture,
            $"{label,-22} threshold {s.Threshold,6:0.###}  picks {s.Picks,6}  TP {s.TruePositives,6}  FP {s.FalsePositives,6}  FN {s.FalseNegatives,6}  precision {s.Precision:0.000}  recall {s.Recall:0.000}  F1 {s.F1:0.000}  F2 {s.F2:0.000}");
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{report.Micrographs} micrographs, {report.TrueCentres} true centres, matching radius {report.Radius:0.#} px (one-to-one, maximum matching)"));
        Console.Out.WriteLine(Line("all picks", report.AllPicks));
        Console.Out.WriteLine(Line("F2-best threshold", report.BestF2));
        Console.Out.WriteLine(Line("F1-best threshold", report.BestF1));
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"area under the precision-recall curve: {report.AreaUnderPrCurve:0.000}"));
        Console.Out.WriteLine("per micrograph (all picks):");
        foreach (var m in report.PerMicrograph)
        {
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {m.Name,-32} precision {m.AllPicks.Precision:0.000}  recall {m.AllPicks.Recall:0.000}  F1 {m.AllPicks.F1:0.000}  ({m.AllPicks.TruePositives}/{m.AllPicks.Picks} picks, {m.AllPicks.TruePositives + m.AllPicks.FalseNegatives} true)"));
        }
    }
}
