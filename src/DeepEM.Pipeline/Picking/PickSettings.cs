using DeepEM.Formats.Coordinates;

namespace DeepEM.Pipeline.Picking;

/// <summary>What to do with boxes that would reach past the micrograph's edge.</summary>
public enum EdgeMode
{
    /// <summary>Score only boxes that lie wholly inside the micrograph (the paper's raster scan).</summary>
    Drop,
    /// <summary>Pad the (normalised) micrograph with its mean, 0, by half a box, so particles at the edge are scored too.</summary>
    Keep,
}

/// <summary>
/// How a micrograph is scored and its picks chosen: the scoring parameters, and nothing of where the picks go (the
/// output formats are the campaign's) or where the network runs (the device is the node's). The same record goes from
/// <c>deepem pick</c> through a campaign's journal to every worker. Distances and steps are in pixels of the micrographs
/// as given.
/// </summary>
public sealed record PickSettings
{
    /// <summary>Score threshold; null uses the model's F2-best threshold (<c>--threshold auto</c>).</summary>
    public float? Threshold { get; init; }

    /// <summary>Raster step; null is one binned pixel (every position, which the dense path makes free).</summary>
    public int? Step { get; init; }

    /// <summary>Least distance between two picks (non-maximum suppression); null is a quarter box (about a particle radius).</summary>
    public double? Distance { get; init; }

    public EdgeMode Edge { get; init; } = EdgeMode.Drop;

    /// <summary>The paper's pixel standard-deviation filter; the range comes from the model unless given.</summary>
    public bool StdFilter { get; init; } = true;

    public (float Min, float Max)? StdRange { get; init; }

    /// <summary>The paper's box-by-box raster scan instead of the dense path (for reference and benchmarks).</summary>
    public bool Naive { get; init; }

    /// <summary>The output formats when none are asked for: RELION's .star and EMAN's .box.</summary>
    public static readonly IReadOnlyList<CoordinateFormat> DefaultFormats = [CoordinateFormat.Star, CoordinateFormat.Box];
}
