using DeepEM.Formats.Star;

namespace DeepEM.Formats.Tests.Coordinates;

public class StarFileTests
{
    private const string RelionLike = """
        # RELION version 4.0
        data_optics

        loop_
        _rlnOpticsGroupName #1
        _rlnOpticsGroup #2
        _rlnMicrographPixelSize #3
        opticsGroup1 1 1.770000

        # version 30001

        data_particles

        _rlnSomeKey   'quoted value'
        _rlnOtherKey  7

        loop_
        _rlnCoordinateY #1
        _rlnAutopickFigureOfMerit #2
        _rlnCoordinateX #3
        _rlnMicrographName #4
          20.5   0.9   10.0  "Movies/mic 1.mrc"   # a comment at the end of a row
          40.0   0.8
          30.0   'mic2.mrc'
        """;

    [Fact]
    public void Parses_blocks_pairs_loops_comments_quotes_and_rows_spanning_lines()
    {
        var star = StarFile.Parse(RelionLike, "x.star");
        Assert.Equal(["optics", "particles"], star.Blocks.Select(b => b.Name));
        var particles = star.Block("particles")!;
        Assert.Equal("quoted value", particles.Value("rlnSomeKey"));
        Assert.Equal("7", particles.Value("_rlnOtherKey"));
        var loop = particles.Loops.Single();
        Assert.Equal(["rlnCoordinateY", "rlnAutopickFigureOfMerit", "rlnCoordinateX", "rlnMicrographName"], loop.Columns);
        Assert.Equal(2, loop.Rows.Count);
        Assert.Equal(["20.5", "0.9", "10.0", "Movies/mic 1.mrc"], loop.Rows[0]);
        Assert.Equal(["40.0", "0.8", "30.0", "mic2.mrc"], loop.Rows[1]);
        Assert.Equal("1.770000", star.Block("optics")!.Loops[0].Rows[0][2]);
    }

    [Fact]
    public void Semicolon_text_fields_are_one_value()
    {
        var text = "data_\nloop_\n_a\n_b\n1\n;\nline one\nline two\n;\n";
        var loop = StarFile.Parse(text, "t.star").Blocks[0].Loops[0];
        Assert.Equal(["1", "\nline one\nline two"], loop.Rows[0]);
    }

    [Fact]
    public void A_loop_with_a_partial_row_is_an_error_naming_the_file()
    {
        var e = Assert.Throws<BadInputException>(() => StarFile.Parse("data_\nloop_\n_a\n_b\n1 2\n3\n", "broken.star"));
        Assert.Equal("broken.star", e.Path);
        Assert.Contains("not a whole number of rows", e.Problem);
    }

    [Fact]
    public void Written_text_parses_back_to_the_same_tables()
    {
        var star = new StarFile();
        var block = new StarBlock("test");
        block.Pairs.Add(new("rlnKey", "a value with spaces"));
        var table = new StarTable(["rlnA", "rlnB"]);
        table.Rows.Add(["1", "x y"]);
        table.Rows.Add(["_starts_with_underscore", "\"q\""]);
        block.Loops.Add(table);
        star.Blocks.Add(block);
        var back = StarFile.Parse(star.ToText(), "rt.star");
        Assert.Equal("a value with spaces", back.Blocks[0].Value("rlnKey"));
        Assert.Equal(table.Rows, back.Blocks[0].Loops[0].Rows);
    }
}
