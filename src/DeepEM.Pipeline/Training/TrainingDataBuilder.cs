using DeepEM.Formats;
using DeepEM.Formats.Coordinates;
using DeepEM.Imaging;
using DeepEM.Imaging.Randomness;
using DeepEM.Numerics.Training;
using DeepEM.Pipeline.Preparation;

namespace DeepEM.Pipeline.Training;

/// <summary>How training boxes are cut from micrographs.</summary>
public sealed record BoxSampling
{
    /// <summary>Network input in binned pixels.</summary>
    public required int BoxSize { get; init; }

    public required int Binning { get; init; }

    /// <summary>Random non-particle boxes per particle box.</summary>
    public double NegativeRatio { get; init; } = 2.0;

    /// <summary>Least distance of a random negative's centre from every pick, in binned pixels (about a particle radius).</summary>
    public required double NegativeDistance { get; init; }

    public ulong Seed { get; init; } = 1;
}

/// <summary>What was cut, and from where.</summary>
public sealed record TrainingData(BoxSet Boxes, IReadOnlyList<string> Micrographs, int Positives, int Negatives,
    float StdMin, float StdMax, IReadOnlyList<BadInputException> Failures, double? PixelSizeAngstrom);

/// <summary>
/// Cuts training boxes: positives centred on the given coordinates, negatives at random places at least
/// <see cref="BoxSampling.NegativeDistance"/> from every pick and every place to keep clear (and at explicitly given
/// non-particles). Places to keep clear are likely particles nobody labelled: they only keep random negatives away and
/// add no positives (those come from the coordinates alone). Boxes
/// that would leave the micrograph are skipped. A micrograph that cannot be read is reported and skipped;
/// the others go on. Positives' pixel standard deviations give the range for the picking filter.
/// </summary>
public static class TrainingDataBuilder
{
    public static TrainingData Build(IReadOnlyList<string> micrographPaths, IReadOnlyDictionary<string, List<Pick>> coordinates,
        IReadOnlyDictionary<string, List<Pick>>? explicitNegatives, BoxSampling sampling, Action<string>? log = null,
        IReadOnlyDictionary<string, List<Pick>>? keepClear = null)
    {
        var size = sampling.BoxSize;
        var boxes = new BoxSet(size);
        var used = new List<string>();
        var failures = new List<BadInputException>();
        var stds = new List<float>();
        int positives = 0, negatives = 0;
        double? pixelSize = null;
        var buffer = new float[size * size];
        for (var m = 0; m < micrographPaths.Count; m++)
        {
            var path = micrographPaths[m];
            var name = MicrographReader.NameOf(path);
            if (!coordinates.TryGetValue(name, out var picks))
            {
                log?.Invoke($"{path}: no coordinates named {name}: not used for training");
                continue;
            }
            PreparedMicrograph mic;
            try
            {
                mic = PreparedMicrograph.Load(path, sampling.Binning);
            }
            catch (BadInputException e)
            {
                failures.Add(e);
                continue;
            }
            pixelSize ??= mic.PixelSizeAngstrom;
            used.Add(name);
            var centres = picks.Select(p => (x: mic.ToBinned(p.X), y: mic.ToBinned(p.Y))).ToList();
            var micPositives = 0;
            foreach (var (x, y) in centres)
            {
                if (TryCut(mic, x, y, size, buffer))
                {
                    boxes.Add(buffer, 1f);
                    stds.Add(ImageStatistics.BoxStdDev(buffer));
                    micPositives++;
                }
            }
            positives += micPositives;
            if (explicitNegatives is not null && explicitNegatives.TryGetValue(name, out var given))
            {
                foreach (var p in given)
                {
                    if (TryCut(mic, mic.ToBinned(p.X), mic.ToBinned(p.Y), size, buffer))
                    {
                        boxes.Add(buffer, 0f);
                        negatives++;
                    }
                }
            }
            // Random negatives, from a stream of their own per micrograph so that adding one micrograph moves no other's.
            var rng = DeterministicRandom.ForStream(sampling.Seed, (ulong)StableHash(name));
            var wanted = (int)Math.Round(micPositives * sampling.NegativeRatio);
            var min2 = sampling.NegativeDistance * sampling.NegativeDistance;
            var avoid = keepClear is not null && keepClear.TryGetValue(name, out var clear)
                ? centres.Concat(clear.Select(p => (x: mic.ToBinned(p.X), y: mic.ToBinned(p.Y)))).ToList()
                : centres;
            var made = 0;
            for (var attempt = 0; made < wanted && attempt < wanted * 50; attempt++)
            {
                var x = rng.NextDouble(size / 2.0, mic.Image.Width - size / 2.0);
                var y = rng.NextDouble(size / 2.0, mic.Image.Height - size / 2.0);
                if (avoid.Any(c => (c.x - x) * (c.x - x) + (c.y - y) * (c.y - y) < min2)) continue;
                if (TryCut(mic, x, y, size, buffer))
                {
                    boxes.Add(buffer, 0f);
                    made++;
                }
            }
            negatives += made;
            log?.Invoke($"{name}: {micPositives} particles, {made} random non-particles{(avoid.Count > centres.Count ? $" (kept clear of {avoid.Count - centres.Count} more places)" : "")}");
        }
        var (lo, hi) = Range(stds);
        return new TrainingData(boxes, used, positives, negatives, lo, hi, failures, pixelSize);
    }

    private static bool TryCut(PreparedMicrograph mic, double x, double y, int size, Span<float> buffer)
    {
        var x0 = BoxGeometry.TopLeft(x, size);
        var y0 = BoxGeometry.TopLeft(y, size);
        if (!BoxGeometry.Fits(x0, y0, size, mic.Image.Width, mic.Image.Height)) return false;
        mic.CopyBox(x0, y0, size, buffer);
        return true;
    }

    /// <summary>The central 99% of the particles' standard deviations: the paper's "narrow range typical of true particles".</summary>
    private static (float lo, float hi) Range(List<float> values)
    {
        if (values.Count == 0) return (0, float.MaxValue);
        var sorted = values.Order().ToArray();
        return (sorted[(int)Math.Floor(0.005 * (sorted.Length - 1))], sorted[(int)Math.Ceiling(0.995 * (sorted.Length - 1))]);
    }

    private static uint StableHash(string s)
    {
        // FNV-1a: string.GetHashCode is randomised per process.
        var h = 2166136261u;
        foreach (var c in s)
        {
            h ^= c;
            h *= 16777619u;
        }
        return h;
    }
}
