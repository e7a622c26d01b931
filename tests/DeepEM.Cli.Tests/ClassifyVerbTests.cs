using System.Buffers.Binary;
using System.Globalization;
using DeepEM.Formats.Coordinates;
using DeepEM.Formats.Mrc;
using DeepEM.Formats.Star;
using DeepEM.TestSupport;
using Xunit.Abstractions;

namespace DeepEM.Cli.Tests;

/// <summary>
/// classify and select as a user runs them: simulated micrographs with two kinds of particle and junk, picks at all
/// of them; the classes, the gallery and the star file; junk classes turned into negatives; the refinement training.
/// </summary>
public sealed class ClassifyVerbTests(ITestOutputHelper output)
{
    [Fact]
    public void Classify_writes_the_gallery_and_each_pick_class_and_select_turns_junk_classes_into_negatives_for_train_init()
    {
        using var temp = TestPaths.NewTemp();
        var data = ClassificationDataset.Create(temp.Path, count: 3);
        var run = DeepemProcess.Ok("classify", "--micrographs", temp.File("micrographs"), "--picks", temp.File("picks"), "--box", "64",
            "--classes", "6", "--out", temp.File("classes"));
        output.WriteLine(run.Stdout);
        Assert.Contains("classified", run.Stdout);

        // The gallery is a PNG as wide as six 160 px tiles at least.
        var png = File.ReadAllBytes(temp.File("classes/classes.png"));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        Assert.True(BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)) >= 4 * 160, "gallery narrower than four tiles");
        // The averages, one MRC section per class, 32 px (box 64 binned 2x).
        using var stack = MrcFile.Open(temp.File("classes/classes.mrcs"));
        Assert.Equal((32, 32, 6), (stack.Header.Nx, stack.Header.Ny, stack.Header.Nz));

        var star = StarFile.Read(temp.File("classes/classes.star"));
        var classes = star.Block("classes")!.Loops[0];
        Assert.Equal(6, classes.Rows.Count);
        var particles = star.Block("particles")!.Loops[0];
        var total = data.Sum(m => m.Picks.Count);
        Assert.InRange(particles.Rows.Count, total * 8 / 10, total); // picks whose box leaves the micrograph are left out
        int name = particles.IndexOf("rlnMicrographName"), x = particles.IndexOf("rlnCoordinateX"), y = particles.IndexOf("rlnCoordinateY"), cls = particles.IndexOf("rlnClassNumber");
        // Each row is one of the picks, with its class; the junk classes are those where junk is the commonest kind.
        var kinds = new Dictionary<int, List<PickKind>>();
        foreach (var row in particles.Rows)
        {
            var m = data.Single(d => d.Path == row[name]);
            var px = double.Parse(row[x], CultureInfo.InvariantCulture);
            var py = double.Parse(row[y], CultureInfo.InvariantCulture);
            var i = Enumerable.Range(0, m.Picks.Count).Single(j => Math.Abs(m.Picks[j].X - px) < 0.01 && Math.Abs(m.Picks[j].Y - py) < 0.01);
            var c = int.Parse(row[cls], CultureInfo.InvariantCulture);
            if (!kinds.TryGetValue(c, out var list)) kinds[c] = list = [];
            list.Add(m.Kinds[i]);
        }
        var (purity, table) = ClassificationDataset.Purity(kinds.SelectMany(k => k.Value.Select(v => (k.Key - 1, v))));
        output.WriteLine(table);
        output.WriteLine($"purity {purity:0.000}");
        Assert.True(purity >= 0.8, $"purity {purity:0.000}");
        var junk = kinds.Where(k => k.Value.GroupBy(v => v).MaxBy(g => g.Count())!.Key == PickKind.Junk).Select(k => k.Key).Order().ToList();
        Assert.NotEmpty(junk);

        var select = DeepemProcess.Ok("select", "--classes", temp.File("classes/classes.star"), "--junk", string.Join(',', junk), "--out", temp.File("selected"));
        output.WriteLine(select.Stdout);
        var negatives = data.Sum(m => RelionStarCoordinates.ReadOne(temp.File($"selected/negatives/{m.Name}.star")).Count);
        var kept = data.Sum(m => RelionStarCoordinates.ReadOne(temp.File($"selected/particles/{m.Name}.star")).Count);
        Assert.Equal(junk.Sum(j => kinds[j].Count), negatives);
        Assert.Equal(particles.Rows.Count, negatives + kept);
        Assert.Contains($"{negatives} picks of classes", select.Stdout.Replace("of class ", "of classes "));

        // The paper's refinement: a model, then the same model trained on with the junk as negatives.
        DeepemProcess.Ok("train", "--micrographs", temp.File("micrographs"), "--coords", temp.File("selected/particles"), "--box", "64",
            "--epochs", "1", "--out", temp.File("first.deepem"));
        var refine = DeepemProcess.Ok("train", "--micrographs", temp.File("micrographs"), "--coords", temp.File("selected/particles"),
            "--negatives", temp.File("selected/negatives"), "--init", temp.File("first.deepem"), "--epochs", "1", "--out", temp.File("refined.deepem"));
        Assert.True(File.Exists(temp.File("refined.deepem")), refine.Stdout);
    }

    [Fact]
    public void A_broken_micrograph_is_one_error_line_and_the_others_are_classified()
    {
        using var temp = TestPaths.NewTemp();
        var data = ClassificationDataset.Create(temp.Path, count: 1);
        File.WriteAllBytes(temp.File("micrographs/broken.mrc"), [1, 2, 3, 4]);
        RelionStarCoordinates.Write(temp.File("picks/broken.star"), [new Pick(100, 100, 0.5)]);
        var r = DeepemProcess.Run("classify", "--micrographs", temp.File("micrographs"), "--picks", temp.File("picks"), "--box", "64",
            "--classes", "3", "--out", temp.File("classes"));
        Assert.Equal(3, r.ExitCode);
        var error = Assert.Single(r.ErrorLines);
        Assert.StartsWith($"deepem: error: {temp.File("micrographs/broken.mrc")}: ", error);
        Assert.DoesNotContain("   at ", r.Stderr);
        // The good micrograph's picks are all classified, and nothing half-written is left.
        var particles = StarFile.Read(temp.File("classes/classes.star")).Block("particles")!.Loops[0];
        Assert.InRange(particles.Rows.Count, data[0].Picks.Count * 8 / 10, data[0].Picks.Count);
        Assert.Empty(Directory.GetFiles(temp.File("classes"), "*.tmp*"));
    }

    [Theory]
    [InlineData("0", "0 classes: must be 1..400")]
    [InlineData("4", "--picks")]
    public void Classify_refuses_bad_usage_in_one_line(string classes, string message)
    {
        using var temp = TestPaths.NewTemp();
        Directory.CreateDirectory(temp.File("empty"));
        var image = new DeepEM.Imaging.Image2D(128, 128, Enumerable.Range(0, 128 * 128).Select(i => (float)(i * 7919 % 251)).ToArray());
        MrcWriter.Write(temp.File("mic.mrc"), image);
        var r = DeepemProcess.Run("classify", "--micrographs", temp.File("mic.mrc"), "--picks", temp.File("empty"), "--box", "64", "--classes", classes, "--out", temp.File("o"));
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("deepem: error: ", r.Stderr.Trim());
        Assert.Contains(message, r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'), l => l.StartsWith("deepem:", StringComparison.Ordinal));
    }
}
