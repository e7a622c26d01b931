using System.Diagnostics;
using DeepEM.Classification;
using DeepEM.Figures;
using DeepEM.Pipeline.Classification;
using DeepEM.TestSupport;
using SkiaSharp;
using Xunit.Abstractions;

namespace DeepEM.Pipeline.Tests;

public sealed class ClassificationTests(ITestOutputHelper output)
{
    [Fact]
    public void Classes_separate_two_kinds_of_particle_and_junk_on_simulated_micrographs()
    {
        using var temp = TestPaths.NewTemp();
        var watch = Stopwatch.StartNew();
        var data = ClassificationDataset.Create(temp.Path, count: 6);
        output.WriteLine($"simulated {data.Count} micrographs, {data.Sum(m => m.Picks.Count)} picks in {watch.Elapsed.TotalSeconds:0.0} s");
        var settings = ExtractionSettings.For(ClassificationDataset.Box);
        var shards = ParticleShards.Plan(data.Select(m => new MicrographPicks(m.Path, m.Name, m.Picks)).ToList(), maxShards: 4);
        watch.Restart();
        var loaded = shards.Select(s => ParticleShards.Load(s, settings)).ToList();
        output.WriteLine($"cut {loaded.Sum(l => l.Particles.Count)} particles ({loaded.Sum(l => l.Skipped)} near an edge) in {watch.Elapsed.TotalSeconds:0.0} s; geometry {settings.Geometry()}");
        watch.Restart();
        var options = new ClassificationOptions { Classes = 6 };
        var result = ClassificationRun.RunLocally(settings.Geometry(), options, loaded.Select(l => new ShardComputation(l.Spec.Index, l.Particles)).ToList(),
            r => output.WriteLine($"  {r.Phase}: {r.Summary} ({r.Seconds:0.00} s)"));
        output.WriteLine($"classified in {watch.Elapsed.TotalSeconds:0.0} s");

        var kinds = new List<(int, PickKind)>();
        for (var s = 0; s < shards.Count; s++)
        {
            foreach (var a in result.Assignments[s])
            {
                var (micrograph, pick) = shards[s].Locate(a.Source);
                var m = data.Single(d => d.Name == micrograph.Name);
                kinds.Add((a.Class, m.Kinds[m.Picks.ToList().IndexOf(pick)]));
            }
        }
        var (purity, table) = ClassificationDataset.Purity(kinds);
        output.WriteLine(table);
        output.WriteLine($"purity {purity:0.000}");
        foreach (var c in result.Classes) output.WriteLine($"class {c.Number}: {c.Count} particles, contrast {c.Contrast:0.000}, mean score {c.MeanScore:0.000}");

        // Two kinds and junk in six classes: measured 0.881 (classes of junk blobs pure; empty-ice picks go to the flattest class).
        Assert.True(purity >= 0.85, $"purity {purity:0.000}");
        // Every particle is in exactly one class, and the classes' counts say so.
        Assert.Equal(loaded.Sum(l => l.Particles.Count), kinds.Count);
        Assert.Equal(kinds.Count, result.Classes.Sum(c => c.Count));

        // The gallery: one tile per class, drawn (the tiles are not blank), largest class first.
        var outDir = Environment.GetEnvironmentVariable("DEEPEM_KEEP_GALLERY") ?? temp.File("out");
        ClassificationOutputs.Write(outDir, result, shards, settings, 4.0);
        ClassGallery.Write(Path.Combine(outDir, ClassificationOutputs.GalleryName), result, "simulated: two kinds and junk");
        using var gallery = SKBitmap.Decode(Path.Combine(outDir, ClassificationOutputs.GalleryName));
        Assert.True(gallery.Width >= 4 * 150 && gallery.Height >= 2 * 150, $"gallery {gallery.Width}x{gallery.Height}");
        var tile = Enumerable.Range(0, 150).SelectMany(y => Enumerable.Range(0, 150).Select(x => gallery.GetPixel(8 + x, 34 + y).Red)).ToList();
        Assert.True(tile.Max() - tile.Min() > 100, "the first tile is flat");
        var star = DeepEM.Formats.Star.StarFile.Read(Path.Combine(outDir, ClassificationOutputs.StarName));
        Assert.Equal(6, star.Block("classes")!.Loops[0].Rows.Count);
        Assert.Equal(kinds.Count, star.Block("particles")!.Loops[0].Rows.Count);
    }
}
