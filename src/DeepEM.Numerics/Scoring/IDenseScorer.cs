namespace DeepEM.Numerics.Scoring;

/// <summary>
/// Scores every box position of a micrograph at once (see <see cref="DenseScorer"/> for why that is exact). Each
/// compute backend supplies its own (<see cref="Backends.IComputeBackend.CreateDenseScorer"/>): the CPU's scores
/// bands on every core, the GPU's the whole micrograph on the device.
/// </summary>
public interface IDenseScorer : IDisposable
{
    /// <summary>Scores of every box position, averaged over the four 90° rotations when <paramref name="rotations"/> is 4.</summary>
    ScoreMap Score(ReadOnlySpan<float> image, int width, int height, int rotations = 4);

    /// <summary>
    /// The local maxima of the four-rotation score map at or above <paramref name="threshold"/> (<see cref="LocalMaxima"/>),
    /// in raster order: what peak finding needs of the map. The GPU finds them on the device and sends back only these.
    /// </summary>
    IReadOnlyList<MapPeak> Maxima(ReadOnlySpan<float> image, int width, int height, float threshold)
    {
        var map = Score(image, width, height);
        return LocalMaxima.Find(map.Data, map.Width, map.Height, threshold);
    }
}
