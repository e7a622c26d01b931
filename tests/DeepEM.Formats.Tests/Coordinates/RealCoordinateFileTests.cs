using DeepEM.Formats.Coordinates;
using DeepEM.TestSupport;

namespace DeepEM.Formats.Tests.Coordinates;

/// <summary>The real coordinate files of ../shared/data/empiar10017_betagal (see its SOURCE.md).</summary>
public class RealCoordinateFileTests
{
    private const string Reference = "Falcon_2012_06_12-14_33_35_0";

    private static string Data(params string[] parts) => Path.Combine([TestPaths.BetaGal, .. parts]);

    [Fact]
    public void Cryoppp_star_and_csv_hold_the_same_629_centres()
    {
        var star = RelionStarCoordinates.Read(Data("cryosegnet_finetune_dataset", "sample.star"));
        // The star file names the micrograph in a column: its rows are grouped under that name.
        Assert.Equal([Reference], star.Keys);
        Assert.Equal(629, star[Reference].Count);
        var csv = CsvCoordinates.Read(Data("cryosegnet_finetune_dataset", "csv_files", Reference + ".csv"));
        Assert.Equal(629, csv.Count);
        Assert.Equal(new Pick(3752, 693), star[Reference][0]);
        Assert.Equal(csv.Select(p => (p.X, p.Y)), star[Reference].Select(p => (p.X, p.Y)));
    }

    [Theory]
    [InlineData("Falcon_2012_06_12-14_33_35_0", 634)]
    [InlineData("Falcon_2012_06_12-15_07_41_0", 392)]
    [InlineData("Falcon_2012_06_12-16_44_07_0", 681)]
    [InlineData("Falcon_2012_06_12-17_02_43_0", 636)]
    public void Derived_mask_centres_parse_with_their_counts(string name, int count) =>
        Assert.Equal(count, CsvCoordinates.Read(Data("derived_mask_centers", name + ".csv")).Count);

    [Fact]
    public void All_fourteen_derived_files_are_read_from_the_folder()
    {
        var all = CoordinateFiles.ReadAll(Data("derived_mask_centers"));
        Assert.Equal(14, all.Count);
        Assert.Equal(8897, all.Values.Sum(v => v.Count));
    }

    [Theory]
    [InlineData("crYOLO", 5843)]
    [InlineData("topaz", 6317)]
    [InlineData("deepPicker", 2726)]
    public void Repic_box_files_parse_with_scores(string picker, int total)
    {
        var all = CoordinateFiles.ReadAll(Data("repic_examples_10017", picker));
        Assert.Equal(8, all.Count);
        Assert.Equal(total, all.Values.Sum(v => v.Count));
        Assert.All(all.Values.SelectMany(v => v), p => Assert.NotNull(p.Score));
    }

    /// <summary>
    /// REPIC's boxes are corners in the MRC frame, a vertical flip of the JPEG: SOURCE.md gives
    /// x_jpg = x + 90, y_jpg = 4095 − (y + 90). With the box reader's centre (corner + 90), the flip
    /// y_jpg = 4095 − y_centre puts crYOLO's picks within a few pixels of the CryoPPP centres.
    /// </summary>
    [Fact]
    public void Repic_crYOLO_picks_land_on_the_cryoppp_centres_after_the_documented_flip()
    {
        var truth = CsvCoordinates.Read(Data("cryosegnet_finetune_dataset", "csv_files", Reference + ".csv"));
        var picks = EmanBox.Read(Data("repic_examples_10017", "crYOLO", Reference + ".box"));
        double MedianNearest(IEnumerable<Pick> ps)
        {
            var d = ps.Select(p => truth.Min(t => Math.Sqrt((p.X - t.X) * (p.X - t.X) + (p.Y - t.Y) * (p.Y - t.Y)))).Order().ToArray();
            return d[d.Length / 2];
        }
        var flipped = MedianNearest(picks.Select(p => p with { Y = 4095 - p.Y }));
        Assert.InRange(flipped, 3, 12);
        Assert.True(MedianNearest(picks) > 40, "without the flip the picks must miss");
    }
}
