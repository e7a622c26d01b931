using DeepEM.Formats;
using DeepEM.Formats.Coordinates;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.ModelFile;
using DeepEM.Pipeline.Preparation;

namespace DeepEM.Pipeline.Picking;

/// <summary>What happened to each micrograph of a picking run.</summary>
public sealed record PickingSummary(int Picked, int Skipped, IReadOnlyList<BadInputException> Failed, int Particles, TimeSpan Elapsed, TimeSpan Scoring);

/// <summary>
/// Picking in a plain loop, without actors: <c>deepem bench</c>'s end-to-end baseline (<c>deepem pick</c> runs the same
/// MicrographPicker as a campaign on the cluster, DeepEM.Cluster). Micrographs one at a time (read, bin, normalise, score, peaks, write),
/// skipping those already done in the output folder, so that re-running the same command resumes. A bad
/// micrograph is reported and the run goes on.
/// </summary>
public static class PickingWorkflow
{
    public static PickingSummary Run(TrainedModel model, IReadOnlyList<string> micrographs, string outDir, PickSettings options,
        IReadOnlyList<CoordinateFormat> formats, DeviceChoice device, Action<string>? log = null, Action<MicrographPicks>? picked = null)
    {
        Directory.CreateDirectory(outDir);
        var outputs = new PickOutputs(outDir, formats, model.Preprocessing.BoxSizeOriginal);
        var names = micrographs.Select(p => (Name: MicrographReader.NameOf(p), MicrographPath: p)).ToList();
        PickOutputs.CheckNames(names);
        using var picker = new MicrographPicker(model, options, device);
        log?.Invoke($"device: {picker.Device}; threshold {picker.Threshold:0.###}; step {picker.StepBinned * model.Preprocessing.Binning} px; " +
                    $"suppression distance {picker.DistanceBinned * model.Preprocessing.Binning:0.#} px; " +
                    (options.StdFilter ? $"std filter {picker.StdRange.Min:0.###}..{picker.StdRange.Max:0.###}" : "std filter off") +
                    (options.Naive ? "; naive raster scan" : ""));
        var failed = new List<BadInputException>();
        var started = DateTime.UtcNow;
        int done = 0, skipped = 0, particles = 0;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var scoring = TimeSpan.Zero;
        // The index is rewritten every few seconds and at the end, not after every micrograph: rewriting
        // it each time would write a number of lines that grows with the square of the dataset.
        var lastIndex = TimeSpan.Zero;
        foreach (var (name, path) in names)
        {
            if (outputs.IsDone(name))
            {
                skipped++;
                continue;
            }
            try
            {
                var micrograph = PreparedMicrograph.Load(path, model.Preprocessing.Binning);
                var result = picker.Pick(micrograph);
                outputs.Write(name, result.Picks);
                if (watch.Elapsed - lastIndex > TimeSpan.FromSeconds(10))
                {
                    outputs.WriteIndex(names);
                    lastIndex = watch.Elapsed;
                }
                done++;
                particles += result.Picks.Count;
                scoring += result.ScoringTime;
                picked?.Invoke(result);
            }
            catch (BadInputException e)
            {
                failed.Add(e);
            }
        }
        outputs.WriteIndex(names);
        // What an earlier run killed in the middle of a write left (its temporary files, older than this run).
        outputs.RemoveLeftovers(names.Select(n => n.Name), started);
        return new PickingSummary(done, skipped, failed, particles, watch.Elapsed, scoring);
    }
}
