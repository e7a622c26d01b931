using System.Diagnostics;
using System.Globalization;
using DeepEM.Formats;
using DeepEM.Formats.Coordinates;
using DeepEM.Formats.Mrc;
using DeepEM.Formats.Star;
using DeepEM.Imaging.Preprocessing;
using DeepEM.TestSupport;

namespace DeepEM.Cli.Tests;

/// <summary>
/// DeepEM.Cluster inside a RELION project, checked by the real RELION (Debian's relion 3.1, installed by ./run-tests):
/// a CtfFind-style micrographs.star in, picks out, RELION's own extraction reads them; a ManualPick index for training;
/// bad STAR files get one line.
/// </summary>
public sealed class RelionTests : IClassFixture<RelionTests.Project>
{
    private readonly Project _project;

    public RelionTests(Project project) => _project = project;

    /// <summary>A RELION project folder: two real EMPIAR-10017 micrographs as MRC (binned 4×, 7.08 Å/px) and a model.</summary>
    public sealed class Project : IDisposable
    {
        public static readonly string[] Micrographs = ["Falcon_2012_06_12-14_33_35_0", "Falcon_2012_06_12-15_07_41_0"];

        public Project()
        {
            Directory.CreateDirectory(Path.Combine(Dir, "Micrographs"));
            foreach (var name in Micrographs)
            {
                var jpeg = MicrographReader.Read(Path.Combine(TestPaths.BetaGal, "cryosegnet_finetune_dataset", "images", name + ".jpg"));
                MrcWriter.Write(Path.Combine(Dir, "Micrographs", name + ".mrc"), Binning.BlockMean(jpeg.Image, 4), MrcMode.Float32, 7.08);
            }
            Ok(null, "simulate", "--out", Path.Combine(Dir, "sim"), "--count", "3", "--size", "512", "--box", "48", "--seed", "41");
            Ok(null, "train", "--micrographs", Path.Combine(Dir, "sim", "micrographs"), "--coords", Path.Combine(Dir, "sim", "truth"),
                "--box", "48", "--out", Model, "--epochs", "2");
        }

        public string Dir => Temp.Path;

        public TempFolder Temp { get; } = TestPaths.NewTemp();

        public string Model => Path.Combine(Temp.Path, "model.deepem");

        public void Dispose() => Temp.Dispose();
    }

    private static DeepemProcess.Result Ok(string? dir, params string[] args)
    {
        var r = DeepemProcess.RunIn(dir, args);
        Assert.True(r.ExitCode == 0, $"deepem {string.Join(' ', args)}: {r.Stderr}");
        return r;
    }

    /// <summary>A CtfFind job's list: data_optics with the pixel size, data_micrographs with names relative to the project.</summary>
    private static void WriteMicrographsStar(string path, IEnumerable<string> names)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, """

            # version 30001

            data_optics

            loop_
            _rlnOpticsGroupName #1
            _rlnOpticsGroup #2
            _rlnMicrographPixelSize #3
            _rlnVoltage #4
            _rlnSphericalAberration #5
            _rlnAmplitudeContrast #6
            opticsGroup1            1     7.080000   300.000000     2.700000     0.100000

            # version 30001

            data_micrographs

            loop_
            _rlnMicrographName #1
            _rlnOpticsGroup #2

            """ + string.Concat(names.Select(n => $"{n} 1\n")));
    }

    [Fact]
    public void Relion_extracts_every_pick_of_a_campaign_given_as_a_micrographs_star()
    {
        var relion = Relion("relion_preprocess");
        var dir = _project.Dir;
        var names = Project.Micrographs.Select(m => $"Micrographs/{m}.mrc").ToList();
        WriteMicrographsStar(Path.Combine(dir, "CtfFind", "job003", "micrographs_ctf.star"), names);

        var pick = Ok(dir, "pick", "--model", _project.Model, "--micrographs", "CtfFind/job003/micrographs_ctf.star", "--out", "AutoPick/job004",
            "--threshold", "0.2", "--no-std-filter");

        // The index names every micrograph exactly as micrographs_ctf.star does, and its coordinates where RELION 3.1 and 4 look.
        var index = AutopickIndex.Read(Path.Combine(dir, "AutoPick", "job004", "autopick.star"));
        Assert.Equal(names, index.Select(e => e.MicrographName));
        Assert.Equal(Project.Micrographs.Select(m => $"AutoPick/job004/Micrographs/{m}.star"), index.Select(e => e.CoordinatesFile));
        var ours = index.ToDictionary(e => e.MicrographName, e => RelionStarCoordinates.Read(Path.Combine(dir, e.CoordinatesFile)).Values.Single());
        Assert.All(ours.Values, picks => Assert.NotEmpty(picks));

        var extract = Process(relion, dir, "--i", "CtfFind/job003/micrographs_ctf.star", "--coord_dir", "AutoPick/job004/", "--coord_suffix", ".star",
            "--extract", "--extract_size", "48", "--part_star", "Extract/job005/particles.star", "--part_dir", "Extract/job005/");
        Assert.True(extract.Code == 0, extract.Output);

        // RELION's particles: as many as we picked, per micrograph, at our coordinates.
        var particles = StarFile.Read(Path.Combine(dir, "Extract", "job005", "particles.star")).Block("particles")!.LoopWith("rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName")!;
        int ix = particles.IndexOf("rlnCoordinateX"), iy = particles.IndexOf("rlnCoordinateY"), im = particles.IndexOf("rlnMicrographName");
        Assert.Equal(ours.Values.Sum(p => p.Count), particles.Rows.Count);
        foreach (var (micrograph, picks) in ours)
        {
            var extracted = particles.Rows.Where(r => r[im] == micrograph)
                .Select(r => (X: double.Parse(r[ix], CultureInfo.InvariantCulture), Y: double.Parse(r[iy], CultureInfo.InvariantCulture))).ToList();
            Assert.Equal(picks.Count, extracted.Count);
            for (var i = 0; i < picks.Count; i++)
            {
                Assert.Equal(picks[i].X, extracted[i].X, 2);
                Assert.Equal(picks[i].Y, extracted[i].Y, 2);
            }
        }
        Assert.Contains($"picked 2 micrographs ({ours.Values.Sum(p => p.Count)} particles)", pick.Stdout);
    }

    [Fact]
    public void Train_reads_the_coordinates_of_a_RELION_ManualPick_job_from_its_index()
    {
        var dir = Path.Combine(_project.Dir, "manual");
        var truth = Path.Combine(_project.Dir, "sim", "truth");
        Directory.CreateDirectory(Path.Combine(dir, "Micrographs"));
        Directory.CreateDirectory(Path.Combine(dir, "ManualPick", "job004", "Micrographs"));
        var rows = new List<string>();
        foreach (var mrc in Directory.GetFiles(Path.Combine(_project.Dir, "sim", "micrographs"), "*.mrc").Order())
        {
            var name = Path.GetFileNameWithoutExtension(mrc);
            File.Copy(mrc, Path.Combine(dir, "Micrographs", name + ".mrc"));
            // RELION 4 names a ManualPick job's files MICROGRAPH_manualpick.star: not the micrograph's name.
            var picks = RelionStarCoordinates.Read(Path.Combine(truth, name + ".star")).Values.Single();
            File.WriteAllText(Path.Combine(dir, "ManualPick", "job004", "Micrographs", name + "_manualpick.star"), RelionStarCoordinates.ToText(picks));
            rows.Add($"Micrographs/{name}.mrc ManualPick/job004/Micrographs/{name}_manualpick.star");
        }
        File.WriteAllText(Path.Combine(dir, "ManualPick", "job004", "manualpick.star"),
            "\n# version 30001\n\ndata_coordinate_files\n\nloop_\n_rlnMicrographName #1\n_rlnMicrographCoordinates #2\n" + string.Join("\n", rows) + "\n");

        var indexed = Ok(dir, "train", "--micrographs", "Micrographs", "--coords", "ManualPick/job004/manualpick.star", "--box", "48", "--out", "model.deepem", "--epochs", "1");
        var folder = Ok(dir, "train", "--micrographs", "Micrographs", "--coords", truth, "--box", "48", "--out", "model2.deepem", "--epochs", "1");
        // The same particle boxes as from the coordinates folder itself (boxes that do not fit inside a micrograph are left out by both).
        static int Particles(DeepemProcess.Result r) =>
            int.Parse(System.Text.RegularExpressions.Regex.Match(r.Stdout + r.Stderr, @"training set: (\d+) particles").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(Particles(indexed) > 20, indexed.Stdout + indexed.Stderr);
        Assert.Equal(Particles(folder), Particles(indexed));
        Assert.True(File.Exists(Path.Combine(dir, "model.deepem")));
    }

    [Fact]
    public void Bad_star_files_get_one_line_naming_the_file_and_the_problem()
    {
        var dir = Path.Combine(_project.Dir, "bad");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "no_names.star"), "data_micrographs\n\nloop_\n_rlnOpticsGroup #1\n1\n");
        File.WriteAllText(Path.Combine(dir, "empty.star"), "data_micrographs\n\nloop_\n_rlnMicrographName #1\n");
        var noNames = DeepemProcess.RunIn(dir, "pick", "--model", _project.Model, "--micrographs", "no_names.star", "--out", "p1");
        Assert.Equal(3, noNames.ExitCode);
        Assert.Contains("deepem: error: no_names.star: no micrographs: no loop with _rlnMicrographName", noNames.Stderr);

        var empty = DeepemProcess.RunIn(dir, "pick", "--model", _project.Model, "--micrographs", "empty.star", "--out", "p2");
        Assert.Equal(3, empty.ExitCode);
        Assert.Contains("deepem: error: empty.star: the micrograph table is empty", empty.Stderr);

        // One listed micrograph is missing, one lies outside the project folder (its files could not be named by its path):
        // each gets its line, and the other is still picked.
        WriteMicrographsStar(Path.Combine(dir, "unknown.star"),
            [$"{Path.Combine(_project.Dir, "Micrographs", Project.Micrographs[0])}.mrc", "Micrographs/not_there.mrc", $"../Micrographs/{Project.Micrographs[1]}.mrc"]);
        var unknown = DeepemProcess.RunIn(dir, "pick", "--model", _project.Model, "--micrographs", "unknown.star", "--out", "p3", "--threshold", "0.2", "--no-std-filter");
        Assert.Equal(3, unknown.ExitCode);
        Assert.Contains("deepem: error: unknown.star: row 2: micrograph Micrographs/not_there.mrc: no such file", unknown.Stderr);
        Assert.Contains($"deepem: error: ../Micrographs/{Project.Micrographs[1]}.mrc: a RELION layout names the output files by the micrograph's path, which must not contain '..'", unknown.Stderr);
        Assert.Contains("2 failed", unknown.Stdout);
        Assert.Contains("picked 1 micrographs", unknown.Stdout);
        Assert.DoesNotContain("   at ", unknown.Stderr);

        File.WriteAllText(Path.Combine(dir, "index.star"), "data_coordinate_files\n\nloop_\n_rlnMicrographName #1\n_rlnMicrographCoordinates #2\nMicrographs/a.mrc ManualPick/a_manualpick.star\n");
        var train = DeepemProcess.RunIn(dir, "train", "--micrographs", Path.Combine(_project.Dir, "Micrographs"), "--coords", "index.star", "--box", "48", "--out", "m.deepem");
        Assert.NotEqual(0, train.ExitCode);
        Assert.Contains("deepem: error: index.star: row 1: coordinates of Micrographs/a.mrc: ManualPick/a_manualpick.star: no such file", train.Stderr);
    }

    private static string Relion(string program)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
        {
            var path = Path.Combine(dir, program);
            if (File.Exists(path)) return path;
        }
        throw new FileNotFoundException($"{program} not found: RELION is needed (./run-tests installs Debian's relion package)");
    }

    private static (int Code, string Output) Process(string program, string dir, params string[] args)
    {
        var start = new ProcessStartInfo(program) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} ran over 3 minutes");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
