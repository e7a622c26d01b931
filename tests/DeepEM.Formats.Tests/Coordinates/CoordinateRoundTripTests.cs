using DeepEM.Formats.Coordinates;
using DeepEM.TestSupport;

namespace DeepEM.Formats.Tests.Coordinates;

public class CoordinateRoundTripTests
{
    private static readonly List<Pick> Scored =
    [
        new(100, 200, 0.912345),
        new(1234.5, 17.25, 0.5),
        new(3, 4091, 0.000001),
    ];

    [Fact]
    public void Relion_star_round_trips_with_scores()
    {
        using var temp = TestPaths.NewTemp();
        RelionStarCoordinates.Write(temp.File("m.star"), Scored);
        Assert.Equal(Scored, RelionStarCoordinates.ReadOne(temp.File("m.star")));
        var text = File.ReadAllText(temp.File("m.star"));
        Assert.Contains("_rlnCoordinateX #1", text);
        Assert.Contains("_rlnAutopickFigureOfMerit #3", text);
    }

    [Fact]
    public void Relion_star_of_a_micrograph_without_particles_is_empty_not_missing()
    {
        using var temp = TestPaths.NewTemp();
        RelionStarCoordinates.Write(temp.File("none.star"), []);
        var read = RelionStarCoordinates.Read(temp.File("none.star"));
        Assert.Empty(read["none"]);
    }

    [Fact]
    public void Eman_box_round_trips_integer_centres_through_corners()
    {
        using var temp = TestPaths.NewTemp();
        List<Pick> centres = [new(100, 200), new(90, 4000), new(2048, 7)];
        EmanBox.Write(temp.File("m.box"), centres, 180);
        var lines = File.ReadAllLines(temp.File("m.box"));
        Assert.Equal("10\t110\t180\t180", lines[0]); // corner = centre − box/2
        Assert.Equal(centres, EmanBox.Read(temp.File("m.box")));
    }

    [Fact]
    public void Csv_round_trips_with_and_without_scores()
    {
        using var temp = TestPaths.NewTemp();
        CsvCoordinates.Write(temp.File("s.csv"), Scored);
        Assert.Equal(Scored, CsvCoordinates.Read(temp.File("s.csv")));
        List<Pick> plain = [new(1, 2), new(3.5, 4.25)];
        CsvCoordinates.Write(temp.File("p.csv"), plain);
        Assert.StartsWith("x,y\n", File.ReadAllText(temp.File("p.csv")));
        Assert.Equal(plain, CsvCoordinates.Read(temp.File("p.csv")));
    }

    [Fact]
    public void Topaz_round_trips_several_micrographs_in_one_file()
    {
        using var temp = TestPaths.NewTemp();
        var byName = new Dictionary<string, List<Pick>> { ["a"] = Scored, ["b"] = [new(5, 6, 0.25)] };
        TopazCoordinates.Write(temp.File("picks.txt"), byName);
        Assert.StartsWith("image_name\tx_coord\ty_coord\tscore\n", File.ReadAllText(temp.File("picks.txt")));
        var back = TopazCoordinates.Read(temp.File("picks.txt"));
        Assert.Equal(byName["a"], back["a"]);
        Assert.Equal(byName["b"], back["b"]);
    }

    [Fact]
    public void Autopick_index_round_trips()
    {
        using var temp = TestPaths.NewTemp();
        List<AutopickEntry> entries = [new("MotionCorr/job002/mic_0001.mrc", "AutoPick/job010/mic_0001.star"), new("m2.mrc", "m2.star")];
        AutopickIndex.Write(temp.File("autopick.star"), entries);
        Assert.Contains("data_coordinate_files", File.ReadAllText(temp.File("autopick.star")));
        Assert.Equal(entries, AutopickIndex.Read(temp.File("autopick.star")));
    }

    [Fact]
    public void Cryolo_cbox_star_and_legacy_forms_give_centres()
    {
        using var temp = TestPaths.NewTemp();
        File.WriteAllText(temp.File("new.cbox"), """

            data_global

            _version 1.8.0

            data_cryolo

            loop_
            _CoordinateX #1
            _CoordinateY #2
            _CoordinateZ #3
            _Width #4
            _Height #5
            _Depth #6
            _EstWidth #7
            _EstHeight #8
            _Confidence #9
            _NumBoxes #10
            _Angle #11
            10.0 110.0 <NA> 180 180 <NA> 175.2 176.0 0.87 <NA> <NA>
            1958.0 3.0 <NA> 180 180 <NA> 170.0 169.0 0.31 <NA> <NA>
            """);
        Assert.Equal([new Pick(100, 200, 0.87), new Pick(2048, 93, 0.31)], CryoloCbox.Read(temp.File("new.cbox")));
        File.WriteAllText(temp.File("old.cbox"), "10 110 180 180 0.87 175 176\n");
        Assert.Equal([new Pick(100, 200, 0.87)], CryoloCbox.Read(temp.File("old.cbox")));
    }

    [Fact]
    public void A_folder_of_mixed_files_is_read_by_micrograph_name_preferring_star()
    {
        using var temp = TestPaths.NewTemp();
        RelionStarCoordinates.Write(temp.File("m1.star"), [new(1, 1, 0.5)]);
        CsvCoordinates.Write(temp.File("m1.csv"), [new(9, 9)]);
        EmanBox.Write(temp.File("m2.box"), [new(50, 50)], 20);
        AutopickIndex.Write(temp.File("autopick.star"), [new("m1.mrc", "m1.star")]);
        var all = CoordinateFiles.ReadAll(temp.Path);
        Assert.Equal(["m1", "m2"], all.Keys.Order());
        Assert.Equal([new Pick(1, 1, 0.5)], all["m1"]);
        Assert.Equal([new Pick(50, 50)], all["m2"]);
    }

    [Fact]
    public void A_bad_number_names_the_file_and_line()
    {
        using var temp = TestPaths.NewTemp();
        File.WriteAllText(temp.File("bad.csv"), "x,y\n1,2\n3,abc\n");
        var e = Assert.Throws<BadInputException>(() => CsvCoordinates.Read(temp.File("bad.csv")));
        Assert.Equal("line 3: y 'abc' is not a number", e.Problem);
    }
}
