using System.Globalization;
using DeepEM.Classification;
using DeepEM.Formats.IO;
using DeepEM.Formats.Mrc;
using DeepEM.Formats.Star;
using DeepEM.Imaging;

namespace DeepEM.Pipeline.Classification;

/// <summary>
/// Writes a classification: <c>classes.star</c> (a <c>data_classes</c> table, and <c>data_particles</c> with every
/// classified pick and its class), <c>classes.mrcs</c> (the class averages as an MRC stack, RELION's
/// <c>_rlnReferenceImage</c> points into it); the gallery <c>classes.png</c> beside them is a figure (DeepEM.Figures'
/// ClassGallery, which the command line draws). Each file is written whole.
/// </summary>
public static class ClassificationOutputs
{
    public const string StarName = "classes.star";
    public const string StackName = "classes.mrcs";
    public const string GalleryName = "classes.png";

    // DeepEM's own labels (RELION reads past labels it does not know).
    public const string ContrastLabel = "deepemClassContrast";
    public const string MeanScoreLabel = "deepemClassMeanScore";
    public const string PsiLabel = "deepemAlignPsi";
    public const string ShiftXLabel = "deepemAlignShiftX";
    public const string ShiftYLabel = "deepemAlignShiftY";
    public const string ScoreLabel = "deepemAlignScore";

    public static void Write(string folder, ClassificationResult result, IReadOnlyList<ParticleShardSpec> shards, ExtractionSettings settings,
        double? pixelSizeAngstrom)
    {
        Directory.CreateDirectory(folder);
        var size = result.Geometry.Size;
        var binnedPixel = pixelSizeAngstrom * settings.Binning;
        MrcWriter.WriteStack(Path.Combine(folder, StackName), result.Classes.Select(c => new Image2D(size, size, c.Image)).ToList(), MrcMode.Float32, binnedPixel);
        AtomicFile.WriteAllText(Path.Combine(folder, StarName), StarText(result, shards, settings));
    }

    private static string StarText(ClassificationResult result, IReadOnlyList<ParticleShardSpec> shards, ExtractionSettings settings)
    {
        var total = Math.Max(1, result.Particles);
        var classes = new StarBlock("classes");
        var classTable = new StarTable(["rlnClassNumber", "rlnReferenceImage", "rlnClassDistribution", ContrastLabel, MeanScoreLabel]);
        foreach (var c in result.Classes)
        {
            classTable.Rows.Add([Int(c.Number), $"{c.Number:000000}@{StackName}", Num(c.Count / (double)total), Num(c.Contrast), Num(c.MeanScore)]);
        }
        classes.Loops.Add(classTable);

        var particles = new StarBlock("particles");
        var table = new StarTable(["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnClassNumber", "rlnAutopickFigureOfMerit",
            PsiLabel, ShiftXLabel, ShiftYLabel, ScoreLabel]);
        for (var s = 0; s < shards.Count; s++)
        {
            foreach (var a in result.Assignments[s])
            {
                var (micrograph, pick) = shards[s].Locate(a.Source);
                table.Rows.Add([micrograph.Path, Coordinate(pick.X), Coordinate(pick.Y), Int(a.Class + 1), Num(pick.Score ?? 0),
                    Num(a.PsiDegrees), Coordinate(a.ShiftX * settings.Binning), Coordinate(a.ShiftY * settings.Binning), Num(a.Score)]);
            }
        }
        particles.Loops.Add(table);
        var file = new StarFile();
        file.Blocks.Add(classes);
        file.Blocks.Add(particles);
        return "# deepem classify: reference-free 2D classes of the picks.\n"
               + "# Particles: the class average turned by deepemAlignPsi degrees (from +x towards +y, about the box centre) and moved by\n"
               + "# (deepemAlignShiftX, deepemAlignShiftY) micrograph pixels matches the particle cut at (rlnCoordinateX, rlnCoordinateY);\n"
               + "# deepemAlignScore is that normalised correlation. Classes: deepemClassContrast is the standard deviation of the average\n"
               + "# inside the mask (empty-ice classes have little), in units of the particles' background noise.\n"
               + file.ToText();
    }

    private static string Int(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Num(double v) => v.ToString("0.######", CultureInfo.InvariantCulture);

    private static string Coordinate(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);
}
