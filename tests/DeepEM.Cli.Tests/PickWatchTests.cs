using System.Diagnostics;
using System.Text.Json;
using DeepEM.Formats.Coordinates;
using DeepEM.TestSupport;

namespace DeepEM.Cli.Tests;

/// <summary>
/// <c>deepem pick --watch</c> as a microscope's pipeline feeds it: micrographs land in a watched folder over time (one
/// copied whole, one written slowly in pieces, one renamed into place, one damaged), the process is killed with SIGKILL
/// in the middle and started again with the same command, and the stop file ends it. Every complete micrograph gets
/// exactly one set of picks, byte for byte those of picking the final set in one go.
/// </summary>
public sealed partial class PickVerbTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(4);

    /// <summary>How many times the embedded coordinator's log says micrographs were added to the campaign (0 before it starts).</summary>
    private static int AdditionsLogged(string outDir)
    {
        var log = Path.Combine(outDir, ".deepem", "deepem.log");
        if (!File.Exists(log)) return 0;
        using var reader = new StreamReader(new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        return reader.ReadToEnd().Split('\n').Count(l => l.Contains("micrographs added"));
    }

    private static async Task Until(Func<bool> condition, RunningDeepem process, string what)
    {
        for (var deadline = DateTime.UtcNow + Limit; !condition(); await Task.Delay(50))
        {
            Assert.True(DateTime.UtcNow < deadline && !process.Process.HasExited, $"no {what} within {Limit.TotalMinutes} min:\n{process.Output}");
        }
    }

    [Fact]
    public async Task A_watched_folder_is_picked_as_files_land_exactly_once_across_a_SIGKILL_and_a_restart()
    {
        using var temp = TestPaths.NewTemp();
        DeepemProcess.Ok("simulate", "--out", temp.File("source"), "--count", "5", "--size", "512", "--box", "48", "--seed", "41");
        string Source(int i) => temp.File($"source/micrographs/mic_{i:D4}.mrc");
        var watched = Directory.CreateDirectory(temp.File("incoming")).FullName;
        var outDir = temp.File("picks");
        string In(string name) => Path.Combine(watched, name);
        string[] Watch() => ["pick", "--model", _data.Model, "--micrographs", watched, "--out", outDir, "--watch", "--settle", "3", "--rescan", "2"];

        var first = new RunningDeepem(Watch());
        try
        {
            await first.WaitForLine(l => l.StartsWith("watching ", StringComparison.Ordinal), Limit, "the watch's first line");
            // Copied whole: complete once unchanged for the settle time.
            File.Copy(Source(0), In("mic_0000.mrc"));
            // Renamed into place from a hidden temporary name (how motion correction writes): complete at once.
            File.Copy(Source(2), In(".mic_0002.mrc.partial"));
            File.Move(In(".mic_0002.mrc.partial"), In("mic_0002.mrc"));
            // Damaged: an MRC header that promises more than the file holds.
            var bytes = File.ReadAllBytes(Source(3));
            File.WriteAllBytes(In("damaged.mrc"), bytes[..(bytes.Length / 2)]);
            // Written slowly in pieces, each well within the settle time of the last: never read while incomplete (it
            // would fail as truncated, as the damaged one does).
            var slow = File.ReadAllBytes(Source(1));
            await using (var writer = new FileStream(In("mic_0001.mrc"), FileMode.CreateNew))
            {
                foreach (var piece in slow.Chunk(slow.Length / 8 + 1))
                {
                    writer.Write(piece);
                    writer.Flush();
                    await Task.Delay(TimeSpan.FromMilliseconds(300));
                }
            }
            foreach (var name in new[] { "mic_0000", "mic_0001", "mic_0002" })
            {
                await first.WaitForLine(l => l.StartsWith(name + ": ", StringComparison.Ordinal) && l.Contains(" particles ("), Limit, $"the picks of {name}");
            }
            await first.WaitForLine(l => l.Contains("damaged"), Limit, "the damaged micrograph's report");
            // The index RELION follows is valid while the campaign grows: it lists the three picked (rewritten every 5 s).
            var index = Path.Combine(outDir, "autopick.star");
            await Until(() => File.Exists(index) && AutopickIndex.Read(index).Count == 3, first, "autopick.star listing the three picked");

            // Killed in the middle: a micrograph has just been added to the campaign (the coordinator's log says so) and is
            // being picked, or about to be.
            var addedBefore = AdditionsLogged(outDir);
            File.Copy(Source(3), In(".mic_0003.mrc.partial"));
            File.Move(In(".mic_0003.mrc.partial"), In("mic_0003.mrc"));
            await Until(() => AdditionsLogged(outDir) > addedBefore, first, "mic_0003 added to the campaign");
        }
        finally
        {
            first.Process.Kill(entireProcessTree: true);
            await first.Process.WaitForExitAsync();
        }
        Assert.Single(first.ErrorLines, l => l.Contains("damaged"));
        Assert.DoesNotContain(first.ErrorLines, l => l.Contains("mic_0001"));
        // Whatever has picks when the first run dies (mic_0003's may have been written just before) is never written again.
        var pickedBefore = Directory.GetFiles(outDir, "mic_*.star").ToDictionary(f => f, File.GetLastWriteTimeUtc);
        Assert.True(pickedBefore.Count >= 3, string.Join(", ", pickedBefore.Keys));
        first.Dispose();

        // The campaign is still open for the watch that was killed: a pick without --watch on its folder says so in one
        // line instead of waiting for a watch's end that no one would bring.
        var plain = DeepemProcess.Run("pick", "--model", _data.Model, "--micrographs", watched, "--out", outDir);
        Assert.True(plain.ExitCode == 1, plain.Stdout + plain.Stderr);
        Assert.Contains("pick --watch keeps this campaign open", Assert.Single(plain.ErrorLines));

        // Landed while nothing watched: found by the restarted watch's first listing.
        File.Copy(Source(4), In("mic_0004.mrc"));
        using var second = new RunningDeepem(Watch());
        await second.WaitForLine(l => l.Contains("(resumed)"), Limit, "the resumed campaign");
        await Until(() => File.Exists(Path.Combine(outDir, "mic_0003.star")) && File.Exists(Path.Combine(outDir, "mic_0004.star")), second, "picks of mic_0003 and mic_0004 after the restart");
        File.WriteAllText(Path.Combine(outDir, "DEEPEM_STOP"), "");
        Assert.True(second.Process.WaitForExit(Limit), second.Output);
        second.Process.WaitForExit();
        // One micrograph of the campaign failed (the damaged one, reported in the first run and not again).
        Assert.True(second.Process.ExitCode == 3, second.Output);
        Assert.Contains($"watch ended (DEEPEM_STOP found)", second.Output);
        Assert.DoesNotContain(second.ErrorLines, l => l.Contains("damaged"));
        Assert.False(File.Exists(Path.Combine(outDir, "DEEPEM_STOP")));

        // Exactly the picks of the final set picked in one go, nothing picked twice, nothing half-written.
        var reference = temp.File("reference");
        Directory.CreateDirectory(temp.File("final"));
        foreach (var i in Enumerable.Range(0, 5)) File.Copy(Source(i), temp.File($"final/mic_{i:D4}.mrc"));
        DeepemProcess.Ok("pick", "--model", _data.Model, "--micrographs", temp.File("final"), "--out", reference);
        var names = Enumerable.Range(0, 5).Select(i => $"mic_{i:D4}").ToList();
        Assert.Equal(names.Select(n => n + ".star"), Directory.GetFiles(outDir, "*.star").Select(Path.GetFileName).Where(n => n != "autopick.star").Order());
        foreach (var name in names)
        {
            Assert.Equal(File.ReadAllText(Path.Combine(reference, name + ".star")), File.ReadAllText(Path.Combine(outDir, name + ".star")));
            Assert.Equal(File.ReadAllText(Path.Combine(reference, name + ".box")), File.ReadAllText(Path.Combine(outDir, name + ".box")));
        }
        foreach (var (star, written) in pickedBefore) Assert.True(File.GetLastWriteTimeUtc(star) == written, $"{star} was picked again");
        Assert.Empty(Directory.GetFiles(outDir, "*.tmp", SearchOption.AllDirectories));
        Assert.Equal(names, AutopickIndex.Read(Path.Combine(outDir, "autopick.star")).Select(e => Path.GetFileNameWithoutExtension(e.MicrographName)).Order());

        // The summary: five picked across the two runs, the damaged one failed, a latency for each watched arrival.
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "campaign.json")));
        var root = summary.RootElement;
        Assert.Equal((5, 1, false, 0), (root.GetProperty("picked").GetInt32(), root.GetProperty("failed").GetInt32(), root.GetProperty("watching").GetBoolean(), root.GetProperty("backlog").GetInt32()));
        Assert.Equal(6, root.GetProperty("arrived").GetInt32());
        var latency = root.GetProperty("latencySeconds");
        Assert.Equal(5, latency.GetProperty("count").GetInt32());
        // It counts from the end of the write: the micrograph copied whole waited the settle time (3 s) before it was added.
        Assert.True(latency.GetProperty("max").GetDouble() >= 3, latency.ToString());
        Assert.True(latency.GetProperty("median").GetDouble() > 0 && latency.GetProperty("median").GetDouble() <= latency.GetProperty("max").GetDouble(), latency.ToString());
        Assert.Contains("latency from complete file to picks: median", second.Output);
    }

    [Fact]
    public async Task A_watch_ends_gracefully_on_SIGTERM_finishing_what_was_added_and_by_itself_after_idle_minutes()
    {
        using var temp = TestPaths.NewTemp();
        DeepemProcess.Ok("simulate", "--out", temp.File("source"), "--count", "1", "--size", "512", "--box", "48", "--seed", "43");
        var watched = Directory.CreateDirectory(temp.File("incoming")).FullName;
        var outDir = temp.File("picks");
        string[] Watch(params string[] more) => ["pick", "--model", _data.Model, "--micrographs", Path.Combine(watched, "*.mrc"), "--out", outDir, "--watch", .. more];

        using (var watch = new RunningDeepem(Watch()))
        {
            await watch.WaitForLine(l => l.StartsWith("watching ", StringComparison.Ordinal), Limit, "the watch's first line");
            File.Copy(temp.File("source/micrographs/mic_0000.mrc"), Path.Combine(watched, ".partial"));
            File.Move(Path.Combine(watched, ".partial"), Path.Combine(watched, "mic_0000.mrc"));
            await Until(() => AdditionsLogged(outDir) > 0, watch, "the micrograph added");
            // SIGTERM as a batch system or systemd sends it: what was added is finished, the campaign completes, exit 0.
            Process.Start("kill", ["-TERM", $"{watch.Process.Id}"])!.WaitForExit();
            Assert.True(watch.Process.WaitForExit(Limit), watch.Output);
            watch.Process.WaitForExit();
            Assert.True(watch.Process.ExitCode == 0, watch.Output);
            Assert.Contains("watch ended (interrupted): finishing what was added", watch.Output);
            Assert.Contains("picked 1 micrographs", watch.Output);
        }
        Assert.True(File.Exists(Path.Combine(outDir, "mic_0000.star")));
        using (var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "campaign.json"))))
        {
            Assert.False(summary.RootElement.GetProperty("watching").GetBoolean());
            Assert.NotEqual(JsonValueKind.Null, summary.RootElement.GetProperty("finished").ValueKind);
        }

        // The same command with --idle: nothing new arrives, and it ends by itself, the micrograph not picked again.
        var picked = File.GetLastWriteTimeUtc(Path.Combine(outDir, "mic_0000.star"));
        var idle = DeepemProcess.Run(Watch("--idle", "0.05"));
        Assert.True(idle.ExitCode == 0, idle.Stdout + idle.Stderr);
        Assert.Contains("watch ended (nothing new for 0.05 min)", idle.Stdout);
        Assert.Contains("1 with picks already (resumed)", idle.Stdout);
        Assert.Equal(picked, File.GetLastWriteTimeUtc(Path.Combine(outDir, "mic_0000.star")));
    }
}
