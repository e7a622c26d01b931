using System.Globalization;
using System.Text.RegularExpressions;
using DeepEM.Formats.Coordinates;
using DeepEM.TestSupport;

namespace DeepEM.Cli.Tests;

/// <summary>
/// <c>deepem pick</c> and <c>deepem evaluate</c> as a user runs them: train on some simulated micrographs,
/// pick others, check the files of docs/cli.md, resuming, the naive path against the dense one, and accuracy.
/// </summary>
public sealed partial class PickVerbTests : IClassFixture<PickVerbTests.TrainedOnSimulation>
{
    private readonly TrainedOnSimulation _data;

    public PickVerbTests(TrainedOnSimulation data) => _data = data;

    public sealed class TrainedOnSimulation : IDisposable
    {
        public TrainedOnSimulation()
        {
            Run("simulate", "--out", Path.Combine(Temp.Path, "train"), "--count", "4", "--size", "768", "--box", "48", "--seed", "31");
            Run("simulate", "--out", Path.Combine(Temp.Path, "test"), "--count", "3", "--size", "640", "--box", "48", "--seed", "32");
            Run("train", "--micrographs", Path.Combine(Temp.Path, "train", "micrographs"), "--coords", Path.Combine(Temp.Path, "train", "truth"),
                "--box", "48", "--out", Model, "--epochs", "4");
        }

        private static void Run(params string[] args)
        {
            var r = DeepemProcess.Run(args);
            Assert.True(r.ExitCode == 0, $"deepem {string.Join(' ', args)}: {r.Stderr}");
        }

        public TempFolder Temp { get; } = TestPaths.NewTemp();

        public string Model => Path.Combine(Temp.Path, "model.deepem");

        public string TestMicrographs => Path.Combine(Temp.Path, "test", "micrographs");

        public string TestTruth => Path.Combine(Temp.Path, "test", "truth");

        public void Dispose() => Temp.Dispose();
    }

    [Fact]
    public void Picks_unseen_micrographs_accurately_writes_the_contract_files_and_resumes()
    {
        using var temp = TestPaths.NewTemp();
        var outDir = Path.Combine(temp.Path, "picks");
        var r = DeepemProcess.Run("pick", "--model", _data.Model, "--micrographs", _data.TestMicrographs, "--out", outDir, "--format", "star,box,topaz");
        Assert.True(r.ExitCode == 0, r.Stderr);
        for (var i = 0; i < 3; i++)
        {
            var name = $"mic_{i:D4}";
            Assert.True(File.Exists(Path.Combine(outDir, name + ".star")));
            Assert.True(File.Exists(Path.Combine(outDir, name + ".box")));
            Assert.True(File.Exists(Path.Combine(outDir, name + ".txt")));
            var star = RelionStarCoordinates.ReadOne(Path.Combine(outDir, name + ".star"));
            var box = EmanBox.Read(Path.Combine(outDir, name + ".box"));
            Assert.Equal(star.Count, box.Count);
            Assert.All(star, p => Assert.InRange(p.Score!.Value, 0, 1));
            Assert.Equal(star.Select(p => (p.X, p.Y)), box.Select(p => (p.X, p.Y))); // integer centres, even box
        }
        // The first micrograph was picked while the embedded cluster formed, and its task took those picks.
        var log = Path.Combine(outDir, ".deepem", "deepem.log");
        Assert.Single(Regex.Matches(File.ReadAllText(log), @"micrograph=mic_0000 msg=""picked \d+ particles ahead, while the node started"));
        var index = AutopickIndex.Read(Path.Combine(outDir, "autopick.star"));
        Assert.Equal(3, index.Count);
        Assert.All(index, e => Assert.True(File.Exists(e.CoordinatesFile)));
        Assert.Empty(Directory.GetFiles(outDir, "*.tmp"));

        var evaluation = DeepemProcess.Run("evaluate", "--picks", outDir, "--truth", _data.TestTruth, "--radius", "12",
            "--plot", temp.File("curves.png"), "--json", temp.File("report.json"));
        Assert.True(evaluation.ExitCode == 0, evaluation.Stderr);
        var f1 = double.Parse(Regex.Match(evaluation.Stdout, @"all picks .* F1 ([0-9.]+)").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(f1 >= 0.85, evaluation.Stdout);
        Assert.True(new FileInfo(temp.File("curves.png")).Length > 10_000);
        Assert.Contains("\"AreaUnderPrCurve\"", File.ReadAllText(temp.File("report.json")));

        // The same command again: everything is done, nothing is picked again, the files are untouched.
        var before = Directory.GetFiles(outDir).ToDictionary(f => f, File.GetLastWriteTimeUtc);
        var again = DeepemProcess.Run("pick", "--model", _data.Model, "--micrographs", _data.TestMicrographs, "--out", outDir, "--format", "star,box,topaz");
        Assert.Equal(0, again.ExitCode);
        Assert.Contains("picked 0 micrographs", again.Stdout);
        Assert.Contains("3 already done (skipped)", again.Stdout);
        // The last line ends with the process's peak resident memory: an embedded cluster and a model take tens of megabytes.
        var peak = Regex.Match(again.Stdout, @"; peak memory (\d+) MB\n");
        Assert.True(peak.Success, again.Stdout);
        Assert.InRange(int.Parse(peak.Groups[1].Value, CultureInfo.InvariantCulture), 30, 4000);
        foreach (var (file, time) in before.Where(kv => !kv.Key.EndsWith("autopick.star")))
        {
            Assert.Equal(time, File.GetLastWriteTimeUtc(file));
        }

        // Picks deleted by hand are picked again by the same command; the others are left alone.
        var kept = File.GetLastWriteTimeUtc(Path.Combine(outDir, "mic_0000.star"));
        File.Delete(Path.Combine(outDir, "mic_0001.star"));
        var third = DeepemProcess.Run("pick", "--model", _data.Model, "--micrographs", _data.TestMicrographs, "--out", outDir, "--format", "star,box,topaz");
        Assert.True(third.ExitCode == 0, third.Stderr);
        Assert.Contains("picked 1 micrographs", third.Stdout);
        Assert.Contains("2 already done (skipped)", third.Stdout);
        Assert.True(File.Exists(Path.Combine(outDir, "mic_0001.star")));
        Assert.Equal(kept, File.GetLastWriteTimeUtc(Path.Combine(outDir, "mic_0000.star")));
        // A resumed campaign picks nothing ahead (its first micrograph may be done): the log (appended to) still has the one.
        Assert.Single(Regex.Matches(File.ReadAllText(log), "particles ahead"));

        // Another threshold into the same folder would mix two pickings in one dataset: refused in one line, nothing written.
        var files = Directory.GetFiles(outDir).ToDictionary(f => f, File.GetLastWriteTimeUtc);
        var other = DeepemProcess.Run("pick", "--model", _data.Model, "--micrographs", _data.TestMicrographs, "--out", outDir, "--format", "star,box,topaz", "--threshold", "0.95");
        Assert.Equal(1, other.ExitCode);
        var refusal = Assert.Single(other.ErrorLines);
        Assert.StartsWith($"deepem: error: {Path.GetFullPath(outDir)}: this output folder belongs to a campaign that picks with other settings", refusal);
        Assert.All(files, kv => Assert.Equal(kv.Value, File.GetLastWriteTimeUtc(kv.Key)));

        // The campaign's journal, read back by `status`.
        var status = DeepemProcess.Run("status", "--state", outDir);
        Assert.True(status.ExitCode == 0, status.Stderr);
        Assert.Contains("3 micrographs: 3 picked, 0 already there, 0 failed, 0 in flight, 0 pending", status.Stdout);
        Assert.Contains("complete", status.Stdout);
    }

    [Fact]
    public void Naive_raster_scan_gives_the_same_picks_as_the_dense_path()
    {
        using var temp = TestPaths.NewTemp();
        // A 320 px crop keeps the naive scan short: (320 − 48)/4 + 1 = 69² positions, four rotations each.
        var crop = Path.Combine(temp.Path, "crop");
        Directory.CreateDirectory(crop);
        var full = Formats.MicrographReader.Read(Path.Combine(_data.TestMicrographs, "mic_0000.mrc")).Image;
        Formats.Mrc.MrcWriter.Write(Path.Combine(crop, "mic_0000.mrc"), full.Crop(100, 100, 320, 320));
        var dense = DeepemProcess.Run("pick", "--model", _data.Model, "--micrographs", crop, "--out", temp.File("dense"), "--step", "4", "--threshold", "0.05");
        var naive = DeepemProcess.Run("pick", "--model", _data.Model, "--micrographs", crop, "--out", temp.File("naive"), "--step", "4", "--threshold", "0.05", "--naive");
        Assert.True(dense.ExitCode == 0 && naive.ExitCode == 0, dense.Stderr + naive.Stderr);
        Assert.Contains("naive raster scan", naive.Stdout);
        var d = RelionStarCoordinates.ReadOne(Path.Combine(temp.File("dense"), "mic_0000.star"));
        var n = RelionStarCoordinates.ReadOne(Path.Combine(temp.File("naive"), "mic_0000.star"));
        Assert.True(d.Count >= 3, $"only {d.Count} picks");
        Assert.Equal(d.Select(p => (p.X, p.Y)), n.Select(p => (p.X, p.Y)));
        for (var i = 0; i < d.Count; i++) Assert.Equal(d[i].Score!.Value, n[i].Score!.Value, 5);
    }

    [Fact]
    public void Edge_mode_and_the_std_filter_change_what_is_kept()
    {
        using var temp = TestPaths.NewTemp();
        List<Pick> Run(string name, params string[] extra)
        {
            var r = DeepemProcess.Run(["pick", "--model", _data.Model, "--micrographs", Path.Combine(_data.TestMicrographs, "mic_0000.mrc"),
                "--out", temp.File(name), .. extra]);
            Assert.True(r.ExitCode == 0, r.Stderr);
            return RelionStarCoordinates.ReadOne(Path.Combine(temp.File(name), "mic_0000.star"));
        }
        const int size = 640, half = 24;
        // Box top-left in [0, size − 48], so centres in [24, size − 24].
        static bool NearEdge(Pick p) => p.X < half || p.Y < half || p.X > size - half || p.Y > size - half;
        var dropped = Run("drop");
        var kept = Run("keep", "--edge", "keep");
        // Scoring only boxes wholly inside puts every centre at least half a box from the edge.
        Assert.DoesNotContain(dropped, NearEdge);
        Assert.Contains(kept, NearEdge);
        // A standard-deviation range that no box meets removes every pick; switching the filter off keeps them.
        Assert.Empty(Run("impossible", "--std-range", "100,200"));
        Assert.True(Run("nofilter", "--no-std-filter").Count >= dropped.Count);
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("a_truncated")] // first in the campaign: read while the embedded cluster forms (pick ahead), failing there
    public void A_bad_micrograph_fails_alone(string bad)
    {
        using var temp = TestPaths.NewTemp();
        var mics = Path.Combine(temp.Path, "mics");
        Directory.CreateDirectory(mics);
        File.Copy(Path.Combine(_data.TestMicrographs, "mic_0001.mrc"), Path.Combine(mics, "good.mrc"));
        File.WriteAllBytes(Path.Combine(mics, bad + ".mrc"), File.ReadAllBytes(Path.Combine(_data.TestMicrographs, "mic_0002.mrc"))[..5000]);
        var r = DeepemProcess.Run("pick", "--model", _data.Model, "--micrographs", mics, "--out", temp.File("out"));
        Assert.Equal(3, r.ExitCode);
        var error = Assert.Single(r.ErrorLines);
        Assert.StartsWith($"deepem: error: {Path.Combine(mics, bad + ".mrc")}: truncated", error);
        Assert.True(File.Exists(Path.Combine(temp.File("out"), "good.star")));
        Assert.False(File.Exists(Path.Combine(temp.File("out"), bad + ".star")));
        Assert.Single(AutopickIndex.Read(Path.Combine(temp.File("out"), "autopick.star")));
    }

    [Fact]
    public void A_damaged_campaign_journal_is_one_line_naming_it()
    {
        using var temp = TestPaths.NewTemp();
        var journal = Path.Combine(temp.File("out"), ".deepem", "journal.db");
        Directory.CreateDirectory(Path.GetDirectoryName(journal)!);
        File.WriteAllBytes(journal, Enumerable.Range(0, 4096).Select(i => (byte)(i * 7 + 3)).ToArray());
        var r = DeepemProcess.Run("pick", "--model", _data.Model, "--micrographs", Path.Combine(_data.TestMicrographs, "mic_0001.mrc"), "--out", temp.File("out"));
        Assert.Equal(1, r.ExitCode);
        var error = Assert.Single(r.ErrorLines);
        Assert.StartsWith($"deepem: error: {journal}: the campaign journal cannot be used", error);
        // Bad input, not a failure of the program's: no pointer to a stack trace.
        Assert.DoesNotContain("--verbose", error);
        Assert.False(File.Exists(Path.Combine(temp.File("out"), "mic_0001.star")));
    }
}
