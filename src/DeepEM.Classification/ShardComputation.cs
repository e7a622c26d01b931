using DeepEM.Classification.Internal;
using DeepEM.Classification.Steps;

namespace DeepEM.Classification;

/// <summary>
/// One shard's particles and what any step asks of them. Holds nothing but the particles and their features (computed
/// once): a step's result depends on the step and the particles alone, so a shard moved to another node gives the same
/// parts. Within a shard, work is spread over the cores, and sums are added in particle order, so parts are the same
/// bytes however many cores there are.
/// </summary>
public sealed class ShardComputation
{
    private readonly PolarGrid _grid;
    private float[]? _features;

    public ShardComputation(int shard, ParticleSet particles)
    {
        Shard = shard;
        Particles = particles;
        _grid = new PolarGrid(particles.Geometry);
    }

    public int Shard { get; }

    public ParticleSet Particles { get; }

    private ParticleGeometry Geometry => Particles.Geometry;

    public ShardResult Compute(ClassificationStep step, CancellationToken cancel = default) => step switch
    {
        FeatureStep => SumFeatures(cancel),
        SampleStep s => Sample(s),
        ClusterStep s => Cluster(s),
        SeedStep s => Seeds(s),
        AlignStep s => Align(s, cancel),
        _ => throw new ArgumentException($"unknown classification step {step.GetType().Name}"),
    };

    /// <summary>The rotation-invariant features of every particle (computed on first use).</summary>
    internal float[] AllFeatures(CancellationToken cancel = default)
    {
        if (_features is { } known) return known;
        var f = Geometry.FeatureCount;
        var features = new float[Particles.Count * f];
        Parallel.For(0, Particles.Count, new ParallelOptions { CancellationToken = cancel },
            () => (new float[_grid.Rings * _grid.Samples], new float[_grid.SpectrumLength], new float[_grid.SpectrumLength], new float[2 * _grid.Samples]),
            (i, _, b) =>
            {
                Features.Compute(Particles.Image(i), Geometry, _grid, features.AsSpan(i * f, f), b.Item1, b.Item2, b.Item3, b.Item4);
                return b;
            }, _ => { });
        _features = features;
        return features;
    }

    private FeatureSums SumFeatures(CancellationToken cancel)
    {
        var features = AllFeatures(cancel);
        var f = Geometry.FeatureCount;
        var n = Particles.Count;
        var sum = new double[f];
        var outer = new double[f * f];
        // Row by row, each element summed in particle order: the same bytes on any number of cores.
        Parallel.For(0, f, new ParallelOptions { CancellationToken = cancel }, i =>
        {
            double s = 0;
            var row = outer.AsSpan(i * f, f);
            for (var p = 0; p < n; p++)
            {
                var fp = features.AsSpan(p * f, f);
                double vi = fp[i];
                s += vi;
                for (var j = i; j < f; j++) row[j] += vi * fp[j];
            }
            sum[i] = s;
        });
        for (var i = 0; i < f; i++)
        {
            for (var j = 0; j < i; j++) outer[i * f + j] = outer[j * f + i];
        }
        return new FeatureSums(Shard, n, sum, outer);
    }

    private float[] Projected(Projection projection)
    {
        var features = AllFeatures();
        var f = Geometry.FeatureCount;
        if (projection.Features != f) throw new ArgumentException($"a projection of {projection.Features} features for particles with {f}");
        var d = projection.Components;
        var z = new float[Particles.Count * d];
        Parallel.For(0, Particles.Count, i => Features.Project(features.AsSpan(i * f, f), projection, z.AsSpan(i * d, d)));
        return z;
    }

    private FeatureSample Sample(SampleStep step)
    {
        var z = Projected(step.Projection);
        var d = step.Projection.Components;
        var chosen = Enumerable.Range(0, Particles.Count).Where(i => ParticleHash.Uniform(step.Seed, Shard, i) < step.Fraction).ToArray();
        var values = new float[chosen.Length * d];
        for (var i = 0; i < chosen.Length; i++) z.AsSpan(chosen[i] * d, d).CopyTo(values.AsSpan(i * d, d));
        return new FeatureSample(Shard, chosen, values);
    }

    /// <summary>Each particle's nearest centroid and the squared distance to it.</summary>
    internal (int[] Labels, double[] Distances, float[] Projected) Labels(Projection projection, float[] centroids, int clusters)
    {
        var z = Projected(projection);
        var d = projection.Components;
        if (centroids.Length != clusters * d) throw new ArgumentException($"{centroids.Length} centroid values for {clusters} clusters of {d}");
        var labels = new int[Particles.Count];
        var distances = new double[Particles.Count];
        Parallel.For(0, Particles.Count, i => labels[i] = Features.Nearest(z.AsSpan(i * d, d), centroids, clusters, out distances[i]));
        return (labels, distances, z);
    }

    private ClusterSums Cluster(ClusterStep step)
    {
        var (labels, distances, z) = Labels(step.Projection, step.Centroids, step.Clusters);
        var d = step.Projection.Components;
        var counts = new long[step.Clusters];
        var sums = new double[step.Clusters * d];
        double inertia = 0;
        for (var i = 0; i < labels.Length; i++)
        {
            var k = labels[i];
            counts[k]++;
            for (var c = 0; c < d; c++) sums[k * d + c] += z[i * d + c];
            inertia += distances[i];
        }
        return new ClusterSums(Shard, counts, sums, inertia);
    }

    private ClusterSeeds Seeds(SeedStep step)
    {
        var (labels, distances, _) = Labels(step.Projection, step.Centroids, step.Clusters);
        var best = Enumerable.Repeat(-1, step.Clusters).ToArray();
        var bestDistance = Enumerable.Repeat(double.PositiveInfinity, step.Clusters).ToArray();
        for (var i = 0; i < labels.Length; i++)
        {
            if (distances[i] < bestDistance[labels[i]])
            {
                bestDistance[labels[i]] = distances[i];
                best[labels[i]] = i;
            }
        }
        var pixels = Geometry.Pixels;
        var images = new float[step.Clusters * pixels];
        for (var k = 0; k < step.Clusters; k++)
        {
            if (best[k] >= 0) Particles.Image(best[k]).CopyTo(images.AsSpan(k * pixels, pixels));
        }
        return new ClusterSeeds(Shard, bestDistance, best, images);
    }

    private ClassSums Align(AlignStep step, CancellationToken cancel)
    {
        var pixels = Geometry.Pixels;
        if (step.References.Length != step.Classes * pixels)
            throw new ArgumentException($"{step.References.Length} reference values for {step.Classes} classes of {Geometry.Size}² px");
        var references = new ReferenceSpectra(_grid, Geometry, step.References, step.Classes);
        var only = step.Restrict is { } r ? Labels(r.Projection, r.Centroids, r.Clusters).Labels : null;
        var found = new Alignment[Particles.Count];
        Parallel.For(0, Particles.Count, new ParallelOptions { CancellationToken = cancel }, () => new AlignmentSearch(_grid, Geometry), (i, _, search) =>
        {
            found[i] = search.Best(Particles.Image(i), references, only?[i] ?? -1);
            return search;
        }, _ => { });

        var counts = new long[step.Classes];
        var sums = new float[step.Classes * pixels];
        var scores = new double[step.Classes];
        var aligned = new float[pixels];
        var assigned = step.Assignments ? new List<ParticleAssignment>(Particles.Count) : null;
        for (var i = 0; i < found.Length; i++)
        {
            var a = found[i];
            if (a.Class < 0) continue;
            cancel.ThrowIfCancellationRequested();
            Resampling.RotateShift(Particles.Image(i), Geometry.Size, a.Psi, a.Dx, a.Dy, aligned);
            var sum = sums.AsSpan(a.Class * pixels, pixels);
            for (var p = 0; p < pixels; p++) sum[p] += aligned[p];
            counts[a.Class]++;
            scores[a.Class] += a.Score;
            assigned?.Add(new ParticleAssignment(Particles.Sources[i], a.Class, (float)(a.Psi * 180 / Math.PI), a.Dx, a.Dy, (float)a.Score));
        }
        return new ClassSums(Shard, counts, sums, scores, assigned?.ToArray());
    }
}
