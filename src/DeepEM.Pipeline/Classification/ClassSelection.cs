using System.Globalization;
using DeepEM.Formats;
using DeepEM.Formats.Coordinates;
using DeepEM.Formats.Star;

namespace DeepEM.Pipeline.Classification;

/// <summary>What a selection wrote: particles kept and turned into negatives, over how many micrographs.</summary>
public sealed record SelectionResult(int Kept, int Negatives, int Micrographs, string ParticlesFolder, string NegativesFolder);

/// <summary>
/// The paper's refinement loop, from 2D classes: the picks of the classes marked as junk become negatives (boxes the
/// network must learn to refuse) and the others stay particles. Writes one RELION coordinate file per micrograph
/// into <c>OUT/particles/</c> and <c>OUT/negatives/</c> (every micrograph gets both, possibly empty), for
/// <c>deepem train --coords OUT/particles --negatives OUT/negatives --init MODEL</c>.
/// </summary>
public static class ClassSelection
{
    public static SelectionResult Select(string classesStar, IReadOnlyCollection<int> junkClasses, string outFolder)
    {
        var star = StarFile.Read(classesStar);
        var classTable = star.Block("classes")?.LoopWith("rlnClassNumber")
            ?? throw new BadInputException(classesStar, "no data_classes table with _rlnClassNumber: not written by deepem classify?");
        var known = new HashSet<int>();
        foreach (var row in classTable.Rows)
        {
            if (!int.TryParse(row[classTable.IndexOf("rlnClassNumber")], NumberStyles.Integer, CultureInfo.InvariantCulture, out var number))
                throw new BadInputException(classesStar, $"class number '{row[classTable.IndexOf("rlnClassNumber")]}' is not a whole number");
            known.Add(number);
        }
        if (known.Count == 0) throw new BadInputException(classesStar, "its data_classes table is empty");
        var unknown = junkClasses.Where(c => !known.Contains(c)).ToList();
        if (unknown.Count > 0)
            throw new BadInputException(classesStar, $"has no class {string.Join(", ", unknown)} (classes are {known.Min()}..{known.Max()})");
        var table = star.Block("particles")?.LoopWith("rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnClassNumber")
            ?? throw new BadInputException(classesStar, "no data_particles table with micrograph, coordinates and class");
        int name = table.IndexOf("rlnMicrographName"), x = table.IndexOf("rlnCoordinateX"), y = table.IndexOf("rlnCoordinateY"),
            cls = table.IndexOf("rlnClassNumber"), merit = table.IndexOf("rlnAutopickFigureOfMerit");
        var kept = new SortedDictionary<string, List<Pick>>(StringComparer.Ordinal);
        var negatives = new SortedDictionary<string, List<Pick>>(StringComparer.Ordinal);
        var junk = junkClasses.ToHashSet();
        for (var i = 0; i < table.Rows.Count; i++)
        {
            var row = table.Rows[i];
            if (!double.TryParse(row[x], NumberStyles.Float, CultureInfo.InvariantCulture, out var px)
                || !double.TryParse(row[y], NumberStyles.Float, CultureInfo.InvariantCulture, out var py)
                || !int.TryParse(row[cls], NumberStyles.Integer, CultureInfo.InvariantCulture, out var c))
                throw new BadInputException(classesStar, $"particle {i + 1}: coordinates or class are not numbers");
            double? score = merit >= 0 && double.TryParse(row[merit], NumberStyles.Float, CultureInfo.InvariantCulture, out var s) ? s : null;
            var micrograph = MicrographReader.NameOf(row[name]);
            kept.TryAdd(micrograph, []);
            negatives.TryAdd(micrograph, []);
            (junk.Contains(c) ? negatives : kept)[micrograph].Add(new Pick(px, py, score));
        }
        var particlesFolder = Path.Combine(outFolder, "particles");
        var negativesFolder = Path.Combine(outFolder, "negatives");
        Directory.CreateDirectory(particlesFolder);
        Directory.CreateDirectory(negativesFolder);
        foreach (var (micrograph, picks) in kept) RelionStarCoordinates.Write(Path.Combine(particlesFolder, micrograph + ".star"), picks);
        foreach (var (micrograph, picks) in negatives) RelionStarCoordinates.Write(Path.Combine(negativesFolder, micrograph + ".star"), picks);
        return new SelectionResult(kept.Values.Sum(p => p.Count), negatives.Values.Sum(p => p.Count), kept.Count, particlesFolder, negativesFolder);
    }
}
