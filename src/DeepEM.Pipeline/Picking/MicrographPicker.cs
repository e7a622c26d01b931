using System.Diagnostics;
using DeepEM.Formats.Coordinates;
using DeepEM.Imaging;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.ModelFile;
using DeepEM.Numerics.Scoring;
using DeepEM.Numerics.Training;
using DeepEM.Pipeline.Preparation;

namespace DeepEM.Pipeline.Picking;

/// <summary>The picks of one micrograph and what it took.</summary>
public sealed record MicrographPicks(string Name, IReadOnlyList<Pick> Picks, int Peaks, int RejectedByStd, int Positions, TimeSpan ScoringTime);

/// <summary>
/// Picks one prepared micrograph with a trained model: score every box position on the raster (densely,
/// or box by box with <see cref="PickSettings.Naive"/>), keep local maxima above the threshold with
/// non-maximum suppression, drop those whose pixel standard deviation lies outside the particles' range,
/// and give centres in pixels of the micrograph as given.
/// </summary>
public sealed class MicrographPicker : IDisposable
{
    private readonly TrainedModel _model;
    private readonly PickSettings _options;
    private readonly IComputeBackend _backend;
    private readonly IDenseScorer _dense;

    /// <param name="gpu">Which GPU when the device is one (a node with several runs a picker per GPU); the first when null.</param>
    public MicrographPicker(TrainedModel model, PickSettings options, DeviceChoice device = DeviceChoice.Auto, int? gpu = null)
    {
        _model = model;
        _options = options;
        _backend = BackendFactory.Create(model.Architecture, device, gpu);
        _dense = _backend.CreateDenseScorer(model.Parameters);
    }

    public string Device => _backend.Device;

    public float Threshold => _options.Threshold ?? _model.Threshold;

    public (float Min, float Max) StdRange => _options.StdRange ?? (_model.StdMin, _model.StdMax);

    /// <summary>Raster step in binned pixels.</summary>
    public int StepBinned => Math.Max(1, (int)Math.Round((_options.Step ?? _model.Preprocessing.Binning) / (double)_model.Preprocessing.Binning));

    /// <summary>Suppression distance in binned pixels.</summary>
    public double DistanceBinned => (_options.Distance ?? _model.Preprocessing.BoxSizeOriginal / 4.0) / _model.Preprocessing.Binning;

    public MicrographPicks Pick(PreparedMicrograph micrograph)
    {
        var box = _model.Architecture.BoxSize;
        var pad = _options.Edge == EdgeMode.Keep ? box / 2 : 0;
        var image = pad > 0 ? Pad(micrograph.Image, pad) : micrograph.Image;
        if (image.Width < box || image.Height < box)
        {
            return new MicrographPicks(micrograph.Name, [], 0, 0, 0, TimeSpan.Zero);
        }
        var step = StepBinned;
        var watch = Stopwatch.StartNew();
        List<Peak> peaks;
        int columns, rows;
        TimeSpan scoring;
        if (!_options.Naive && step == 1)
        {
            // Every position: the device finds the local maxima itself (a GPU sends back only those), the suppression is the same.
            var maxima = _dense.Maxima(image.Data, image.Width, image.Height, Threshold);
            (columns, rows) = (image.Width - box + 1, image.Height - box + 1);
            scoring = watch.Elapsed;
            peaks = PeakFinder.Suppress(PeakFinder.FromMaxima(maxima), DistanceBinned);
        }
        else
        {
            (var grid, columns, rows) = _options.Naive ? ScoreNaive(image, step) : ScoreDense(image, step);
            scoring = watch.Elapsed;
            peaks = PeakFinder.Find(grid, columns, rows, Threshold, DistanceBinned / step);
        }
        var picks = new List<Pick>();
        var rejected = 0;
        var (stdMin, stdMax) = StdRange;
        var buffer = new float[box * box];
        foreach (var peak in peaks)
        {
            int x0 = peak.Column * step, y0 = peak.Row * step;
            if (_options.StdFilter)
            {
                for (var y = 0; y < box; y++) image.Data.AsSpan((y0 + y) * image.Width + x0, box).CopyTo(buffer.AsSpan(y * box, box));
                var std = ImageStatistics.BoxStdDev(buffer);
                if (std < stdMin || std > stdMax)
                {
                    rejected++;
                    continue;
                }
            }
            var cx = micrograph.ToOriginal(BoxGeometry.Centre(x0, box) - pad);
            var cy = micrograph.ToOriginal(BoxGeometry.Centre(y0, box) - pad);
            picks.Add(new Pick(cx, cy, Math.Round(peak.Score, 6)));
        }
        return new MicrographPicks(micrograph.Name, picks, peaks.Count, rejected, columns * rows, scoring);
    }

    /// <summary>Every <paramref name="step"/>-th position of the dense map (a coarser raster, as the paper's step).</summary>
    private (float[] grid, int columns, int rows) ScoreDense(Image2D image, int step)
    {
        var map = _dense.Score(image.Data, image.Width, image.Height);
        int columns = (map.Width - 1) / step + 1, rows = (map.Height - 1) / step + 1;
        var grid = new float[columns * rows];
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < columns; c++)
                grid[r * columns + c] = map[c * step, r * step];
        return (grid, columns, rows);
    }

    /// <summary>The paper's raster scan: every box cut out, scored with its three rotations, the mean kept.</summary>
    private (float[] grid, int columns, int rows) ScoreNaive(Image2D image, int step)
    {
        var box = _model.Architecture.BoxSize;
        int columns = (image.Width - box) / step + 1, rows = (image.Height - box) / step + 1;
        var grid = new float[columns * rows];
        const int batch = 256;
        var pixels = box * box;
        var boxes = new float[batch * 4 * pixels];
        var scores = new float[batch * 4];
        var single = new float[pixels];
        var total = columns * rows;
        for (var start = 0; start < total; start += batch)
        {
            var n = Math.Min(batch, total - start);
            for (var k = 0; k < n; k++)
            {
                var index = start + k;
                int x0 = index % columns * step, y0 = index / columns * step;
                for (var y = 0; y < box; y++) image.Data.AsSpan((y0 + y) * image.Width + x0, box).CopyTo(single.AsSpan(y * box, box));
                for (var r = 0; r < 4; r++) BoxRotation.Rotate(single, boxes.AsSpan((4 * k + r) * pixels, pixels), box, r);
            }
            _backend.Score(_model.Parameters, boxes.AsSpan(0, n * 4 * pixels), n * 4, scores);
            for (var k = 0; k < n; k++)
            {
                grid[start + k] = (scores[4 * k] + scores[4 * k + 1] + scores[4 * k + 2] + scores[4 * k + 3]) / 4;
            }
        }
        return (grid, columns, rows);
    }

    private static Image2D Pad(Image2D image, int pad)
    {
        var padded = new Image2D(image.Width + 2 * pad, image.Height + 2 * pad);
        for (var y = 0; y < image.Height; y++)
        {
            image.Row(y).CopyTo(padded.Row(y + pad).Slice(pad, image.Width));
        }
        return padded;
    }

    public void Dispose()
    {
        _dense.Dispose();
        _backend.Dispose();
    }
}
