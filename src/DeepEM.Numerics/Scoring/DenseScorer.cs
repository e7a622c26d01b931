using System.Runtime.CompilerServices;
using DeepEM.Numerics.Layers;
using DeepEM.Numerics.Network;

namespace DeepEM.Numerics.Scoring;

/// <summary>
/// Scores every box of a micrograph at once, fully convolutionally, with the score each box would get alone (the
/// paper's raster scan at step 1), to rounding.
///
/// Why it is the same: in a box whose top-left pixel is (x0, y0), stage s's map pixel (a, b) is the image-wide
/// map at (y0 + d·a, x0 + d·b), where d is the product of the poolings before stage s. So each convolution
/// runs once over the whole image with its kernel taps spread d apart (dilated), each pooling averages
/// pixels d apart, and the output unit reads the last maps with taps spread by the product of all poolings.
/// Every box position gets its score from shared work: the cost is that of a few boxes per pixel instead
/// of one box per position. The direct layers sum in the per-box order; the CPU scorer's Winograd layers
/// (<see cref="WinogradRows"/>) in another, so a dense score differs from the box's own by rounding (tested within 1e-5).
///
/// The paper's score is the mean over the box and its three 90° rotations; here the whole micrograph is
/// rotated (not the boxes re-cut), scored, and the maps rotated back and averaged. Memory stays bounded: each band of
/// output rows (a whole rotation, unless the budget is small) is streamed through the network a few rows at a time.
/// </summary>
public sealed class DenseScorer : IDenseScorer
{
    private readonly NetworkArchitecture _arch;
    private readonly IBandScorer _bands;
    private readonly int _threads;
    private readonly long _bandBudgetBytes;

    /// <summary>Scores on the managed CPU backend.</summary>
    public DenseScorer(NetworkArchitecture architecture, float[] parameters, int? threads = null, long bandBudgetBytes = 256L << 20)
        : this(architecture, new ManagedBandScorer(architecture, parameters), threads ?? Environment.ProcessorCount, bandBudgetBytes)
    {
    }

    /// <summary>Scores with the given band scorer.</summary>
    public DenseScorer(NetworkArchitecture architecture, IBandScorer bands, int threads, long bandBudgetBytes = 256L << 20)
    {
        _arch = architecture;
        _bands = bands;
        _threads = Math.Max(1, Math.Min(threads, bands.MaxParallelism));
        _bandBudgetBytes = bandBudgetBytes;
    }

    /// <summary>Scores of every box position, averaged over the four rotations when <paramref name="rotations"/> is 4.</summary>
    public ScoreMap Score(ReadOnlySpan<float> image, int width, int height, int rotations = 4)
        => Score(image, width, height, rotations, _ => LargeBuffers.Allocate((width - _arch.BoxSize + 1) * (height - _arch.BoxSize + 1)));

    /// <summary>
    /// The local maxima of the four-rotation map, which is recombined into a buffer kept for the next micrograph: only the
    /// maxima leave, so a new map each micrograph (4 MB for a binned 4096² one, faulted in and zeroed by the kernel) is not needed.
    /// </summary>
    public IReadOnlyList<MapPeak> Maxima(ReadOnlySpan<float> image, int width, int height, float threshold)
    {
        var maxima = new List<MapPeak>();
        Score(image, width, height, 4, work => work.Sum((width - _arch.BoxSize + 1) * (height - _arch.BoxSize + 1)),
            map => maxima = LocalMaxima.Find(map.Data.AsSpan(0, map.Width * map.Height), map.Width, map.Height, threshold));
        return maxima;
    }

    /// <summary>
    /// Scores into the buffer <paramref name="sumFor"/> gives (the caller's, or one of the workspace's), and lets
    /// <paramref name="read"/> read the map before the workspace is handed to the next micrograph.
    /// </summary>
    private ScoreMap Score(ReadOnlySpan<float> image, int width, int height, int rotations, Func<Workspace, float[]> sumFor, Action<ScoreMap>? read = null)
    {
        var box = _arch.BoxSize;
        if (width < box || height < box)
        {
            throw new ArgumentException($"image {width}x{height} is smaller than the {box} px box");
        }
        if (rotations is not (1 or 4))
        {
            throw new ArgumentOutOfRangeException(nameof(rotations), "1 or 4 rotations");
        }
        int outW = width - box + 1, outH = height - box + 1;
        // The rotated images and their maps are kept for the next micrograph (of the same size, in a campaign): allocated
        // anew they were tens of megabytes of large objects per micrograph for the collector to find.
        var work = Interlocked.Exchange(ref _work, null) ?? new Workspace();
        var sum = sumFor(work);
        var rotated = work.Images(rotations, image.Length);
        image.CopyTo(rotated[0]);
        var length = image.Length;
        Parallel.For(1, rotations, new ParallelOptions { MaxDegreeOfParallelism = _threads }, r =>
            Training.BoxRotation.RotateImage(rotated[0].AsSpan(0, length), rotated[r], width, height, r));
        // Work items: (rotation, band); each writes its own rows of its own rotation's map.
        var maps = work.Maps(rotations, outW * outH);
        var items = new List<(int rotation, int y0, int rows, int w, int h)>();
        // The bands depend on the image and the budget only, never on the cores: where a band starts decides which rows
        // its Winograd layers tile, so bands chosen by core count would give another node other roundings. At the default
        // budget a rotation is one band, and one micrograph uses at most four cores (docs/benchmarks.md).
        for (var r = 0; r < rotations; r++)
        {
            var (w, h) = r % 2 == 0 ? (width, height) : (height, width);
            var band = BandRows(w);
            for (var y0 = 0; y0 < h - box + 1; y0 += band)
            {
                items.Add((r, y0, Math.Min(band, h - box + 1 - y0), w, h));
            }
        }
        Parallel.ForEach(items, new ParallelOptions { MaxDegreeOfParallelism = _threads }, item =>
        {
            var (r, y0, rows, w, h) = item;
            var bandImage = rotated[r].AsSpan(y0 * w, (rows + box - 1) * w);
            var mapW = w - box + 1;
            _bands.ScoreBand(bandImage, w, rows + box - 1, maps[r].AsSpan(y0 * mapW, rows * mapW), mapW);
        });
        Recombine(maps, rotations, width, height, box, sum);
        var map = new ScoreMap(outW, outH, box, sum);
        read?.Invoke(map);
        _work = work;
        return map;
    }

    /// <summary>Each rotation's map rotated back, and the four averaged in the per-box order.</summary>
    private void Recombine(float[][] maps, int rotations, int width, int height, int box, float[] sum)
    {
        int outW = width - box + 1, outH = height - box + 1;
        // In tiles of 64 × 64 positions, both cores at once: rotations 1 and 3 are read down their columns, and row by row
        // over the whole map each of those reads was a cache line of its own (about 6% of a micrograph's scoring).
        const int tile = 64;
        var tilesY = (outH + tile - 1) / tile;
        Parallel.For(0, tilesY, new ParallelOptions { MaxDegreeOfParallelism = _threads }, ty =>
        {
            for (var tx = 0; tx < outW; tx += tile)
            {
                RecombineTile(maps, rotations, width, height, box, sum, ty * tile, Math.Min(outH, ty * tile + tile), tx, Math.Min(outW, tx + tile));
            }
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RecombineTile(float[][] maps, int rotations, int width, int height, int box, float[] sum, int yFrom, int yTo, int xFrom, int xTo)
    {
        int outW = width - box + 1, outH = height - box + 1;
        // Rotate each map back: the box at (x0, y0) of the original sits at T_r(x0, y0) in rotation r.
        for (var y0 = yFrom; y0 < yTo; y0++)
        {
            for (var x0 = xFrom; x0 < xTo; x0++)
            {
                var s = maps[0][y0 * outW + x0];
                if (rotations == 4)
                {
                    // r = 1: image (x, y) -> (y, W−1−x), rotated size H x W, box corner -> (y0, W − x0 − B).
                    s += maps[1][(width - x0 - box) * outH + y0];
                    // r = 2: (x, y) -> (W−1−x, H−1−y), corner -> (W − x0 − B, H − y0 − B).
                    s += maps[2][(height - y0 - box) * outW + (width - x0 - box)];
                    // r = 3: (x, y) -> (H−1−y, x), corner -> (H − y0 − B, x0).
                    s += maps[3][x0 * outH + (height - y0 - box)];
                    s /= 4;
                }
                sum[y0 * outW + x0] = s;
            }
        }
    }

    private Workspace? _work;

    /// <summary>Nothing to free: the buffers are managed memory.</summary>
    public void Dispose()
    {
    }

    /// <summary>Per-rotation images and maps, at least as large as asked (their tails past what is asked are never read).</summary>
    private sealed class Workspace
    {
        private float[][] _images = [];
        private float[][] _maps = [];
        private float[] _sum = [];

        public float[][] Images(int count, int length) => Ensure(ref _images, count, length);

        /// <summary>A recombined map's buffer, read before the workspace is used again.</summary>
        public float[] Sum(int length) => _sum.Length >= length ? _sum : _sum = LargeBuffers.Allocate(length);

        public float[][] Maps(int count, int length) => Ensure(ref _maps, count, length);

        private static float[][] Ensure(ref float[][] arrays, int count, int length)
        {
            if (arrays.Length < count) Array.Resize(ref arrays, count);
            for (var i = 0; i < count; i++)
            {
                if (arrays[i] is null || arrays[i].Length < length) arrays[i] = LargeBuffers.Allocate(length);
            }
            return arrays;
        }
    }

    /// <summary>Output rows per band so that one band's rows stay within the memory budget.</summary>
    private int BandRows(int width)
    {
        // A band streams through the network a few rows at a time (ManagedBandScorer), so what grows with its height is
        // only its own rows of the image and of the scores: at the default budget a band is a whole rotation, whose
        // halo is then computed once. A small budget splits it, each band with its box-high halo.
        var floatsPerRow = 2L * width;
        var rows = _bandBudgetBytes / 4 / Math.Max(1, floatsPerRow) - _arch.BoxSize;
        // Each band recomputes a box-high halo; at least two boxes of output rows keep that under half the
        // work even when the budget is small (a 272 px box on a 4096 px wide micrograph).
        return (int)Math.Clamp(rows, Math.Max(16, 2 * _arch.BoxSize), 1 << 20);
    }
}
