using DeepEM.Classification;
using DeepEM.Formats;
using DeepEM.Formats.Coordinates;
using DeepEM.Pipeline.Preparation;

namespace DeepEM.Pipeline.Classification;

/// <summary>One micrograph's picks to classify: the file, its name (file name without extension) and the picks in its pixels.</summary>
public sealed record MicrographPicks(string Path, string Name, IReadOnlyList<Pick> Picks);

/// <summary>
/// A shard: consecutive micrographs (in name order) whose picks are classified together on one node. Its picks are
/// numbered in order, micrograph after micrograph; results name picks by that number.
/// </summary>
public sealed record ParticleShardSpec(int Index, IReadOnlyList<MicrographPicks> Micrographs)
{
    public int Picks => Micrographs.Sum(m => m.Picks.Count);

    /// <summary>The micrograph and pick of the shard's pick number <paramref name="source"/>.</summary>
    public (MicrographPicks Micrograph, Pick Pick) Locate(int source)
    {
        foreach (var m in Micrographs)
        {
            if (source < m.Picks.Count) return (m, m.Picks[source]);
            source -= m.Picks.Count;
        }
        throw new ArgumentOutOfRangeException(nameof(source), $"shard {Index} has {Picks} picks");
    }
}

/// <summary>
/// How particles are cut for classification: boxes of <see cref="Box"/> micrograph pixels around each pick, binned by
/// <see cref="Binning"/> (block mean, as training and picking bin), masked by a circle of <see cref="MaskDiameter"/>
/// micrograph pixels, with shifts up to <see cref="MaxShift"/> micrograph pixels searched.
/// </summary>
public sealed record ExtractionSettings(int Box, int Binning, double MaskDiameter, double MaxShift)
{
    /// <summary>Binned boxes of at most this many pixels by default: the averages are low resolution, and time goes as its square.</summary>
    public const int DefaultMaxBinnedBox = 48;

    /// <summary>The defaults for a box: the smallest binning that brings it to 48 px or less, a mask of 0.8 box, shifts up to 0.1 box.</summary>
    public static ExtractionSettings For(int box, int? binning = null, double? maskDiameter = null, double? maxShift = null)
    {
        if (box < 8) throw new ArgumentOutOfRangeException(nameof(box), $"box {box} px is too small to classify");
        var bin = binning ?? Math.Max(1, (box + DefaultMaxBinnedBox - 1) / DefaultMaxBinnedBox);
        if (bin < 1 || box / bin < 8) throw new ArgumentOutOfRangeException(nameof(binning), $"binning {bin} leaves a box of {box / Math.Max(bin, 1)} px (at least 8)");
        return new ExtractionSettings(box, bin, maskDiameter ?? 0.8 * box, maxShift ?? 0.1 * box);
    }

    public int BinnedBox => Box / Binning;

    public ParticleGeometry Geometry() =>
        ParticleGeometry.For(BinnedBox, Math.Min(BinnedBox, MaskDiameter / Binning), (int)Math.Round(Math.Min(MaxShift / Binning, BinnedBox / 4)));
}

/// <summary>What loading a shard gave: its particles, the picks left out, and the micrographs that could not be read.</summary>
/// <remarks><see cref="Skipped"/> counts picks whose box leaves the micrograph (or holds one value only).</remarks>
public sealed record LoadedShard(ParticleShardSpec Spec, ParticleSet Particles, int Skipped, IReadOnlyList<BadInputException> Failures);

/// <summary>Plans shards and cuts their particles.</summary>
public static class ParticleShards
{
    /// <summary>
    /// Splits the micrographs (sorted by name) into consecutive shards of similar pick counts: one per micrograph up to
    /// <paramref name="maxShards"/>, more micrographs per shard beyond. The plan depends on the data alone (never on
    /// the nodes), which is what makes a classification the same on one node or many.
    /// </summary>
    public static IReadOnlyList<ParticleShardSpec> Plan(IReadOnlyList<MicrographPicks> micrographs, int maxShards)
    {
        var sorted = micrographs.Where(m => m.Picks.Count > 0).OrderBy(m => m.Name, StringComparer.Ordinal).ToList();
        if (sorted.Count == 0) return [];
        var shards = Math.Min(sorted.Count, Math.Max(1, maxShards));
        var total = sorted.Sum(m => (long)m.Picks.Count);
        var result = new List<ParticleShardSpec>();
        var current = new List<MicrographPicks>();
        long done = 0;
        for (var i = 0; i < sorted.Count; i++)
        {
            current.Add(sorted[i]);
            done += sorted[i].Picks.Count;
            var left = sorted.Count - i - 1;
            var shardsLeft = shards - result.Count - 1;
            // Close the shard when it reached its share of the picks, or when every remaining micrograph needs a shard of its own.
            if (left == 0 || left == shardsLeft || (shardsLeft > 0 && done >= total * (result.Count + 1) / shards))
            {
                result.Add(new ParticleShardSpec(result.Count, current));
                current = [];
            }
        }
        return result;
    }

    /// <summary>
    /// Cuts a shard's particles: each micrograph read, binned and normalised as for picking, each box that fits cut
    /// around its pick and normalised on its background (<see cref="ParticleNormalization"/>). An unreadable micrograph
    /// is reported and its picks left out; the rest go on.
    /// </summary>
    public static LoadedShard Load(ParticleShardSpec spec, ExtractionSettings settings, CancellationToken cancel = default)
    {
        var geometry = settings.Geometry();
        var size = geometry.Size;
        var images = new List<float[]>();
        var sources = new List<int>();
        var failures = new List<BadInputException>();
        var skipped = 0;
        var offset = 0;
        foreach (var m in spec.Micrographs)
        {
            cancel.ThrowIfCancellationRequested();
            PreparedMicrograph micrograph;
            try
            {
                micrograph = PreparedMicrograph.Load(m.Path, settings.Binning);
            }
            catch (BadInputException e)
            {
                failures.Add(e);
                offset += m.Picks.Count;
                continue;
            }
            for (var p = 0; p < m.Picks.Count; p++)
            {
                var x0 = BoxGeometry.TopLeft(micrograph.ToBinned(m.Picks[p].X), size);
                var y0 = BoxGeometry.TopLeft(micrograph.ToBinned(m.Picks[p].Y), size);
                if (!BoxGeometry.Fits(x0, y0, size, micrograph.Image.Width, micrograph.Image.Height))
                {
                    skipped++;
                    continue;
                }
                var image = new float[geometry.Pixels];
                micrograph.CopyBox(x0, y0, size, image);
                if (!ParticleNormalization.Apply(image, geometry))
                {
                    skipped++;
                    continue;
                }
                images.Add(image);
                sources.Add(offset + p);
            }
            offset += m.Picks.Count;
        }
        var all = new float[images.Count * geometry.Pixels];
        for (var i = 0; i < images.Count; i++) images[i].CopyTo(all, i * geometry.Pixels);
        return new LoadedShard(spec, new ParticleSet(geometry, all, sources.ToArray()), skipped, failures);
    }
}
