using DeepEM.Formats.Coordinates;
using DeepEM.Formats.Mrc;
using DeepEM.Imaging;
using DeepEM.Pipeline.Preparation;
using DeepEM.Pipeline.Training;

namespace DeepEM.Pipeline.Tests;

/// <summary>Where <see cref="TrainingDataBuilder"/> cuts its random non-particles.</summary>
public sealed class TrainingDataTests : IDisposable
{
    private const int Side = 96, Box = 16;
    private const double Distance = 6;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "deepem-trainingdata-" + Guid.NewGuid().ToString("N"));

    public TrainingDataTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// Places to keep clear (a first model's picks where nobody labelled a particle) get no random negative within
    /// the negative distance, as the labels do, and add no positive; the labelled boxes are the same, and so is the
    /// number of negatives. Places and labels are in the micrograph's pixels, distances in binned ones. Every binned
    /// pixel has a value of its own, so each box tells where it was cut.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Random_negatives_keep_clear_of_the_places_given_and_the_positives_stay_the_same(int binning)
    {
        var side = Side * binning;
        var image = new Image2D(side, side);
        for (var y = 0; y < side; y++)
        for (var x = 0; x < side; x++) image[x, y] = 1 + x + side * y;
        var path = Path.Combine(_dir, "mic_1.mrc");
        MrcWriter.Write(path, image);
        Pick At(double x, double y) => new(x * binning, y * binning, 0.9);
        var labels = new Dictionary<string, List<Pick>> { ["mic_1"] = [At(24, 24), At(72, 24), At(24, 72), At(72, 72)] };
        var clear = new Dictionary<string, List<Pick>> { ["mic_1"] = Enumerable.Range(0, 8).Select(i => At(12 + 10 * i, 48)).ToList() };
        var sampling = new BoxSampling { BoxSize = Box, Binning = binning, NegativeDistance = Distance, NegativeRatio = 10, Seed = 3 };

        var plain = TrainingDataBuilder.Build([path], labels, null, sampling);
        var cleared = TrainingDataBuilder.Build([path], labels, null, sampling, keepClear: clear);

        var prepared = PreparedMicrograph.Load(path, binning);
        var where = WhereCut(prepared);
        var placesOf = (TrainingData d, bool positive) => Enumerable.Range(0, d.Boxes.Count).Where(i => d.Boxes.Label(i) > 0.5f == positive)
            .Select(i => where[d.Boxes.Box(i)[0]]).ToList();
        Assert.Equal(placesOf(plain, true), placesOf(cleared, true));
        Assert.Equal(4, cleared.Positives);
        Assert.Equal(40, plain.Negatives);
        Assert.Equal(40, cleared.Negatives);

        // A cut box's centre is the drawn centre rounded to a pixel: half a pixel's diagonal at most from it.
        var least = Distance - Math.Sqrt(0.5);
        double Nearest((int x, int y) c, IEnumerable<Pick> places) => places.Min(p =>
        {
            var (dx, dy) = (prepared.ToBinned(p.X) - c.x, prepared.ToBinned(p.Y) - c.y);
            return Math.Sqrt(dx * dx + dy * dy);
        });
        var plainNegatives = placesOf(plain, false);
        var clearedNegatives = placesOf(cleared, false);
        // Without the places, some negatives land on them (the places cover about a seventh of where centres can be).
        Assert.Contains(plainNegatives, c => Nearest(c, clear["mic_1"]) < least);
        Assert.All(clearedNegatives, c => Assert.True(Nearest(c, clear["mic_1"]) >= least, $"negative at {c} within {Distance} binned px of a place kept clear"));
        Assert.All(clearedNegatives, c => Assert.True(Nearest(c, labels["mic_1"]) >= least, $"negative at {c} within {Distance} binned px of a label"));
    }

    /// <summary>Box centre in binned pixels, by the value of a box's first pixel as the network sees it (binned, normalised).</summary>
    private static Dictionary<float, (int x, int y)> WhereCut(PreparedMicrograph prepared)
    {
        var where = new Dictionary<float, (int, int)>();
        for (var y = 0; y < prepared.Image.Height; y++)
        for (var x = 0; x < prepared.Image.Width; x++) where.Add(prepared.Image[x, y], (BoxGeometry.Centre(x, Box), BoxGeometry.Centre(y, Box)));
        return where;
    }
}
