using System.Diagnostics;
using System.Globalization;
using DeepEM.Cli.Infrastructure;
using DeepEM.Cluster.Clients;
using DeepEM.Cluster.Nodes;
using DeepEM.Cluster.Protocol;
using DeepEM.Formats;
using DeepEM.Formats.Coordinates;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.ModelFile;
using DeepEM.Pipeline.Arrivals;
using DeepEM.Pipeline.Picking;

namespace DeepEM.Cli.Workflows;

/// <summary>How <c>pick --watch</c> watches: the places, when a file counts as complete, how often it lists, when it ends by itself.</summary>
public sealed record WatchOptions(IReadOnlyList<WatchedPlace> Places, TimeSpan Settle, TimeSpan Rescan, TimeSpan? Idle);

/// <summary>What a watched campaign came to: the campaign's figures and why the watch ended.</summary>
public sealed record WatchedCampaignResult(PickingCampaignResult Picking, CampaignStatus Final, string EndedBecause);

/// <summary>
/// <c>deepem pick --watch</c>: a campaign kept open while micrographs land in the watched folders. Each micrograph is
/// added once it is completely written (<see cref="ArrivalPlanner"/>), in order of arrival, and picked like any other
/// (the embedded one-node cluster, or the cluster --join names: nodes that join take work, a node that dies loses
/// nothing). The watch ends on SIGINT/SIGTERM, on <c>OUT/DEEPEM_STOP</c>, or after <c>--idle</c> with nothing new;
/// what was added is then finished and the campaign completes. Running the same command again resumes: micrographs with
/// picks are not looked at again, those added but not picked are picked, and those that landed meanwhile are found by
/// the first listing.
/// </summary>
public static class WatchedCampaign
{
    /// <summary>The stop file: created in the output folder (touch OUT/DEEPEM_STOP), it ends the watch; it is removed then.</summary>
    public const string StopFileName = "DEEPEM_STOP";

    /// <param name="givenFiles">Files named on the command line (not folders or patterns): picked as they are.</param>
    /// <param name="stop">Cancelled by SIGINT/SIGTERM: the watch ends gracefully (a second signal ends the process).</param>
    public static async Task<WatchedCampaignResult> RunAsync(string modelPath, TrainedModel model, IReadOnlyList<string> givenFiles, WatchOptions watch,
        string outDir, PickSettings settings, IReadOnlyList<CoordinateFormat> formats, DeviceChoice device, bool relionLayout, NodeOptions? client,
        bool verbose, TextWriter output, Action<string> error, CancellationToken stop)
    {
        var clock = Stopwatch.StartNew();
        var spec = CampaignSpecs.For(modelPath, givenFiles, outDir, settings, formats, relionLayout);
        var project = Directory.GetCurrentDirectory();
        var stopFile = Path.Combine(spec.OutDir, StopFileName);
        // A stop file from before this watch began would end it at once: it was meant for the watch that ran then.
        TryDelete(stopFile);

        await using var progress = new ConsoleProgress(output, "micrographs");
        progress.Line(PickingCampaign.Describe(client, device, settings, model));
        progress.Line(string.Create(CultureInfo.InvariantCulture,
            $"watching {string.Join(", ", watch.Places.Select(p => p.Pattern == "*" ? p.Folder : Path.Combine(p.Folder, p.Pattern)))}: a file is picked once it is renamed into place or unchanged for {watch.Settle.TotalSeconds:0.#} s; listed every {watch.Rescan.TotalSeconds:0.#} s") +
            (watch.Idle is { } idle ? string.Create(CultureInfo.InvariantCulture, $"; ends after {idle.TotalMinutes:0.##} min with nothing new") : "") +
            $"; Ctrl-C or touch {stopFile} ends it");

        // Micrographs with picks in the output folder (a resumed watch) are not looked at again: one listing of it, now.
        var picked = new PickOutputs(spec.OutDir, [], 0);
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var m in spec.Micrographs) names[m.Name] = m.Path;
        MicrographRef? RefOf(string path)
        {
            var relative = Path.GetRelativePath(project, path);
            var given = relative == ".." || relative.StartsWith("../", StringComparison.Ordinal) || Path.IsPathRooted(relative) ? path : relative;
            try
            {
                return CampaignSpecs.RefOf(given, relionLayout, project);
            }
            catch (ArgumentException)
            {
                return null;
            }
        }
        var pickedBefore = watch.Places.SelectMany(FilesIn).Where(path => RefOf(path) is { } m && picked.IsDone(m.Name)).ToList();

        var feed = new WatchFeed();
        var failed = 0;
        var onCluster = client is not null;
        var node = PickingCampaign.NodeFor(client, spec.OutDir, device, verbose);
        // SIGINT and SIGTERM end the watch, gracefully: Akka must not stop the member on them (its own hook would, and the
        // campaign could not be told its end nor finish what was added). A second signal ends the process at once.
        node = node with { ExtraConfig = "akka.coordinated-shutdown.run-by-clr-shutdown-hook = off\n" + node.ExtraConfig };
        var run = CampaignWatch.RunAsMemberAsync(node, spec, feed, a =>
        {
            progress.Line($"campaign {a.CampaignId}: {a.Total} micrographs so far, {a.Done} with picks already{(a.Resumed ? " (resumed)" : "")}");
            failed = a.Failed;
        }, p =>
        {
            if (p.Failed)
            {
                Interlocked.Increment(ref failed);
                // Reported as it happens, once: a watched campaign only adds what is new, so it is not tried again.
                error($"{p.Name}: {p.Error}");
            }
            else
            {
                progress.Line(PickingCampaign.Describe(p, onCluster));
            }
            progress.Report(p.CampaignId, "picking", p.Done + failed, p.Total);
        }, _ => { }, notice: reason => error($"{reason} (sent again)"), rejoins: client is null ? 0 : PickingCampaign.Rejoins,
            rejoining: n => progress.Line($"this client was removed from the cluster; joining again ({n} of {PickingCampaign.Rejoins})"));

        using var arrivals = new FolderArrivals(watch.Places, MicrographReader.IsMicrographFile, new ArrivalPlanner(watch.Settle, pickedBefore), watch.Rescan);
        if (arrivals.EventsUnavailable is { } noEvents) progress.Line(noEvents);
        // A second look at a waiting file every quarter of the settle time: a file is picked at most that late.
        var interval = TimeSpan.FromMilliseconds(Math.Clamp(watch.Settle.TotalMilliseconds / 4, 100, 1000));
        var lastNew = clock.Elapsed;
        string? listingError = null;
        string endedBecause;
        while (true)
        {
            var arrived = new List<MicrographRef>();
            foreach (var a in arrivals.Poll())
            {
                if (RefOf(a.Path) is not { } m) continue;
                if (names.TryGetValue(m.Name, out var other) && other != m.Path)
                {
                    error($"{a.Path}: shares the name '{m.Name}' with {other}, whose picks would be overwritten; not picked (--relion-layout names each by its path)");
                    continue;
                }
                names[m.Name] = m.Path;
                // The latency counts from the end of the write as this process saw it: the settle time is part of it.
                arrived.Add(m with { ArrivedUnixMs = a.LastChanged.ToUnixTimeMilliseconds() });
            }
            if (arrived.Count > 0)
            {
                feed.Add(arrived);
                lastNew = clock.Elapsed;
            }
            if (arrivals.ListingError != listingError && (listingError = arrivals.ListingError) is not null) error($"{listingError} (listed again in {watch.Rescan.TotalSeconds:0} s)");
            if (run.IsCompleted)
            {
                // Rejected, or the client gone for good: this says why. A campaign cannot complete while watched.
                await run;
                endedBecause = "the campaign ended";
                break;
            }
            if (stop.IsCancellationRequested)
            {
                endedBecause = "interrupted";
                break;
            }
            if (File.Exists(stopFile))
            {
                endedBecause = $"{StopFileName} found";
                TryDelete(stopFile);
                break;
            }
            if (watch.Idle is { } idleFor && clock.Elapsed - lastNew >= idleFor)
            {
                endedBecause = string.Create(CultureInfo.InvariantCulture, $"nothing new for {idleFor.TotalMinutes:0.##} min");
                break;
            }
            // Woken at once by a file-system event (a rename into place is picked without waiting for the next round).
            await Task.WhenAny(run, arrivals.WaitAsync(interval, stop));
        }
        feed.End();
        var waiting = arrivals.Waiting;
        progress.Line($"watch ended ({endedBecause}): finishing what was added{(waiting > 0 ? $"; {waiting} files not yet complete are left for the next watch" : "")}");
        var outcome = await run;
        var final = outcome.Final;
        var result = new PickingCampaignResult(final.Done + final.Skipped - outcome.Accepted.Done, outcome.Accepted.Done,
            final.Particles - outcome.Accepted.Particles, final.Failures, final.Failed, clock.Elapsed, spec.OutDir);
        return new WatchedCampaignResult(result, final, endedBecause);
    }

    private static IEnumerable<string> FilesIn(WatchedPlace place)
    {
        try
        {
            return Directory.Exists(place.Folder) ? Directory.EnumerateFiles(place.Folder, place.Pattern).ToList() : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The watch's own listings report it and try again.
            return [];
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not ours to remove (permissions): the loop sees it again and ends again, which is what it asks for.
        }
    }
}
