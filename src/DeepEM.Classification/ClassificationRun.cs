using System.Diagnostics;
using System.Globalization;
using DeepEM.Classification.Internal;
using DeepEM.Classification.Steps;
using DeepEM.Imaging.Randomness;

namespace DeepEM.Classification;

/// <summary>
/// The driver's side of a classification: which step every shard computes next, and what the parts of a step add up
/// to. The steps:
/// <list type="number">
/// <item>features: sums of the rotation-invariant features and their outer products → principal components;</item>
/// <item>sample: the projected features of a deterministic sample → k-means++ seeding (best of several);</item>
/// <item>k-means: Lloyd iterations over every particle until the spread stops falling;</item>
/// <item>seeds: each cluster's particle nearest its centroid, the first reference of its class;</item>
/// <item>restricted alignment: each particle aligned (rotation and shift) to its own cluster's reference, so a seed
/// becomes an average of aligned views;</item>
/// <item>alignment: each particle aligned to every class average and added to the best; the last round is the result.</item>
/// </list>
/// Between rounds an average is centred (its centre of mass moved to the box centre, so classes do not drift) and
/// masked; a class left empty takes a perturbed copy of the largest class, which splits it. Parts are added in shard
/// order in double precision, so the result depends only on the particles, the shard plan and the options.
/// </summary>
public sealed class ClassificationRun
{
    private readonly ParticleGeometry _geometry;
    private readonly ClassificationOptions _options;
    private readonly int _shards;
    private readonly long _particles;
    private readonly List<RoundReport> _rounds = [];
    private readonly Stopwatch _watch = Stopwatch.StartNew();
    private Projection? _projection;
    private ClusterStep? _clusters;
    private double _lastInertia = double.PositiveInfinity;
    private int _kmeansRound;
    private int _restrictedRound;
    private int _alignRound;
    private int _classes;

    public ClassificationRun(ParticleGeometry geometry, ClassificationOptions options, int shards, long particles)
    {
        options.Validate();
        if (particles < options.Classes)
            throw new ArgumentException($"{particles} particles cannot make {options.Classes} classes");
        _geometry = geometry;
        _options = options;
        _shards = shards;
        _particles = particles;
        _classes = options.Classes;
        Current = new FeatureStep(0);
    }

    /// <summary>The step every shard computes now; null once finished.</summary>
    public ClassificationStep? Current { get; private set; }

    public ClassificationResult? Result { get; private set; }

    public bool IsFinished => Result is not null;

    /// <summary>What the current step is, for progress lines ("k-means 3", "alignment 2 of 8").</summary>
    public string Phase => Current switch
    {
        FeatureStep => "features",
        SampleStep => "k-means seeding",
        ClusterStep => $"k-means {_kmeansRound + 1}",
        SeedStep => "seeds",
        AlignStep { Restrict: not null } => $"alignment to own cluster {_restrictedRound + 1} of {_options.RestrictedRounds}",
        AlignStep => $"alignment {_alignRound + 1} of {_options.AlignmentRounds}",
        _ => "finished",
    };

    /// <summary>Steps in all, counting k-means at its most.</summary>
    public int MaxSteps => 3 + _options.KMeansRounds + _options.RestrictedRounds + _options.AlignmentRounds;

    public IReadOnlyList<RoundReport> Rounds => _rounds;

    /// <summary>Takes every shard's part of the current step (any order) and moves to the next step.</summary>
    public RoundReport Complete(IReadOnlyList<ShardResult> parts)
    {
        var step = Current ?? throw new InvalidOperationException("the classification is finished");
        if (parts.Count != _shards || parts.Select(p => p.Shard).Distinct().Count() != _shards || parts.Any(p => p.Shard < 0 || p.Shard >= _shards))
            throw new ArgumentException($"step {step.Number} needs one part from each of {_shards} shards, got {parts.Count}");
        var ordered = parts.OrderBy(p => p.Shard).ToList();
        var phase = Phase;
        var seconds = _watch.Elapsed.TotalSeconds;
        _watch.Restart();
        var summary = step switch
        {
            FeatureStep => AfterFeatures(ordered.Cast<FeatureSums>().ToList()),
            SampleStep => AfterSample(ordered.Cast<FeatureSample>().ToList()),
            ClusterStep s => AfterCluster(s, ordered.Cast<ClusterSums>().ToList()),
            SeedStep => AfterSeeds(ordered.Cast<ClusterSeeds>().ToList()),
            AlignStep s => AfterAlign(s, ordered.Cast<ClassSums>().ToList()),
            _ => throw new InvalidOperationException($"unknown step {step.GetType().Name}"),
        };
        var report = new RoundReport(step.Number, phase, summary, seconds);
        _rounds.Add(report);
        if (Result is not null && Result.Rounds.Count == 0) Result = Result with { Rounds = _rounds.ToList() };
        return report;
    }

    /// <summary>Runs every step over shards held in this process, one after another (tests, and a library user without a cluster).</summary>
    public static ClassificationResult RunLocally(ParticleGeometry geometry, ClassificationOptions options, IReadOnlyList<ShardComputation> shards,
        Action<RoundReport>? progress = null, CancellationToken cancel = default)
    {
        var run = new ClassificationRun(geometry, options, shards.Count, shards.Sum(s => (long)s.Particles.Count));
        while (run.Current is { } step)
        {
            var parts = shards.Select(s => s.Compute(step, cancel)).ToList();
            // Not progress?.Invoke(run.Complete(parts)): with no progress callback, ?. would skip the call inside.
            var report = run.Complete(parts);
            progress?.Invoke(report);
        }
        return run.Result!;
    }

    private int Next => (Current?.Number ?? 0) + 1;

    private string AfterFeatures(List<FeatureSums> parts)
    {
        var f = _geometry.FeatureCount;
        var count = parts.Sum(p => p.Count);
        var sum = new double[f];
        var outer = new double[f * f];
        foreach (var p in parts)
        {
            for (var i = 0; i < f; i++) sum[i] += p.Sum[i];
            for (var i = 0; i < outer.Length; i++) outer[i] += p.Outer[i];
        }
        _projection = PrincipalComponents.From(count, sum, outer, _options.Components);
        var fraction = Math.Min(1.0, (double)_options.SampleSize / Math.Max(1, count));
        Current = new SampleStep(Next, _projection, fraction, _options.Seed);
        return Invariant($"{count} particles, {f} rotation-invariant features, {_projection.Components} principal components");
    }

    private string AfterSample(List<FeatureSample> parts)
    {
        var d = _projection!.Components;
        var points = parts.SelectMany(p => p.Features).ToArray();
        var count = points.Length / d;
        if (count < _classes && ((SampleStep)Current!).Fraction < 1)
        {
            // A sample smaller than K (a tiny dataset with a small fraction): take every particle instead.
            Current = new SampleStep(Next, _projection, 1.0, _options.Seed);
            return Invariant($"sample of {count} is smaller than {_classes} classes: sampling every particle");
        }
        var centroids = KMeansSeeding.Centroids(points, count, d, _classes, _options.SeedRestarts, _options.Seed);
        _clusters = new ClusterStep(Next, _projection, centroids, _classes);
        Current = _clusters;
        return Invariant($"{count} sampled particles seeded {_classes} clusters (best of {_options.SeedRestarts} k-means++ seedings)");
    }

    private string AfterCluster(ClusterStep step, List<ClusterSums> parts)
    {
        var d = _projection!.Components;
        var counts = new long[_classes];
        var sums = new double[_classes * d];
        double inertia = 0;
        foreach (var p in parts)
        {
            for (var k = 0; k < _classes; k++) counts[k] += p.Counts[k];
            for (var i = 0; i < sums.Length; i++) sums[i] += p.Sums[i];
            inertia += p.Inertia;
        }
        var centroids = (float[])step.Centroids.Clone();
        for (var k = 0; k < _classes; k++)
        {
            if (counts[k] == 0) continue; // an empty cluster keeps its centroid
            for (var c = 0; c < d; c++) centroids[k * d + c] = (float)(sums[k * d + c] / counts[k]);
        }
        _kmeansRound++;
        var spread = inertia / Math.Max(1, _particles);
        var converged = double.IsFinite(_lastInertia) && _lastInertia - inertia <= 1e-4 * _lastInertia;
        _lastInertia = inertia;
        _clusters = new ClusterStep(Next, _projection, centroids, _classes);
        Current = converged || _kmeansRound >= _options.KMeansRounds ? new SeedStep(Next, _projection, centroids, _classes) : _clusters;
        return Invariant($"spread {spread:0.####} per particle; cluster sizes {string.Join(' ', counts)}{(converged ? " (converged)" : "")}");
    }

    private string AfterSeeds(List<ClusterSeeds> parts)
    {
        var pixels = _geometry.Pixels;
        var references = new float[_classes * pixels];
        var seeded = 0;
        for (var k = 0; k < _classes; k++)
        {
            ClusterSeeds? best = null;
            foreach (var p in parts)
            {
                // Strictly nearer wins, so a tie goes to the lower shard.
                if (p.Particles[k] >= 0 && (best is null || p.Distances[k] < best.Distances[k])) best = p;
            }
            if (best is null) continue;
            best.Images.AsSpan(k * pixels, pixels).CopyTo(references.AsSpan(k * pixels, pixels));
            seeded++;
        }
        Current = _options.RestrictedRounds > 0
            ? new AlignStep(Next, references, _classes, _clusters, Assignments: false)
            : new AlignStep(Next, references, _classes, null, Assignments: _options.AlignmentRounds == 1);
        return Invariant($"{seeded} of {_classes} clusters seeded by their most central particle");
    }

    private string AfterAlign(AlignStep step, List<ClassSums> parts)
    {
        var pixels = _geometry.Pixels;
        var counts = new long[_classes];
        var sums = new double[_classes * pixels];
        var scores = new double[_classes];
        foreach (var p in parts)
        {
            for (var k = 0; k < _classes; k++)
            {
                counts[k] += p.Counts[k];
                scores[k] += p.Scores[k];
            }
            for (var i = 0; i < sums.Length; i++) sums[i] += p.Sums[i];
        }
        var averages = new float[_classes * pixels];
        for (var k = 0; k < _classes; k++)
        {
            if (counts[k] == 0) continue;
            for (var i = 0; i < pixels; i++) averages[k * pixels + i] = (float)(sums[k * pixels + i] / counts[k]);
        }
        var assigned = counts.Sum();
        var meanScore = scores.Sum() / Math.Max(1, assigned);
        var summary = Invariant($"mean score {meanScore:0.0000}; class sizes {string.Join(' ', counts)}");

        if (step.Assignments)
        {
            var classes = Enumerable.Range(0, _classes).Select(k =>
            {
                var image = averages.AsSpan(k * pixels, pixels).ToArray();
                return new ClassAverage(k + 1, image, counts[k], counts[k] > 0 ? scores[k] / counts[k] : 0, Contrast(image));
            }).ToList();
            // The log is filled in by Complete, once this step's own line is in it.
            Result = new ClassificationResult(_geometry, classes, parts.Select(p => p.Assigned ?? []).ToList(), []);
            Current = null;
            return summary;
        }

        var references = new float[_classes * pixels];
        for (var k = 0; k < _classes; k++)
        {
            if (counts[k] == 0) continue;
            Prepare(averages.AsSpan(k * pixels, pixels), references.AsSpan(k * pixels, pixels));
        }
        var split = new List<string>();
        if (step.Restrict is null)
        {
            // A class nobody chose takes a perturbed copy of the largest: the two split its particles between them.
            for (var k = 0; k < _classes; k++)
            {
                if (counts[k] > 0) continue;
                var largest = Enumerable.Range(0, _classes).OrderByDescending(j => counts[j]).ThenBy(j => j).First();
                Perturb(references.AsSpan(largest * pixels, pixels), references.AsSpan(k * pixels, pixels), (ulong)(step.Number * 1000 + k));
                // Count the split as done, so that a second empty class splits another (or the remaining half).
                counts[k] = counts[largest] / 2;
                counts[largest] -= counts[k];
                split.Add(Invariant($"{k + 1} from {largest + 1}"));
            }
        }
        if (split.Count > 0) summary += "; empty classes split off the largest: " + string.Join(", ", split);

        if (step.Restrict is not null)
        {
            _restrictedRound++;
            var more = _restrictedRound < _options.RestrictedRounds;
            Current = new AlignStep(Next, references, _classes, more ? step.Restrict : null, Assignments: !more && _options.AlignmentRounds == 1);
        }
        else
        {
            _alignRound++;
            Current = new AlignStep(Next, references, _classes, null, Assignments: _alignRound == _options.AlignmentRounds - 1);
        }
        return summary;
    }

    /// <summary>An average as the next round's reference: centred on its centre of mass (of squared values), then masked.</summary>
    private void Prepare(ReadOnlySpan<float> average, Span<float> reference)
    {
        var n = _geometry.Size;
        var c = _geometry.Centre;
        double sx = 0, sy = 0, total = 0;
        for (var y = 0; y < n; y++)
        {
            for (var x = 0; x < n; x++)
            {
                double v = average[y * n + x];
                var w = v * v;
                sx += w * x;
                sy += w * y;
                total += w;
            }
        }
        var dx = total > 0 ? sx / total - c : 0;
        var dy = total > 0 ? sy / total - c : 0;
        var length = Math.Sqrt(dx * dx + dy * dy);
        if (length > _geometry.MaxShift && length > 0)
        {
            dx *= _geometry.MaxShift / length;
            dy *= _geometry.MaxShift / length;
        }
        if (length > 0.5) Resampling.RotateShift(average, n, 0, dx, dy, reference);
        else average.CopyTo(reference);
        for (var y = 0; y < n; y++)
        {
            for (var x = 0; x < n; x++)
            {
                reference[y * n + x] *= (float)ParticleNormalization.MaskWeight(Math.Sqrt((x - c) * (x - c) + (y - c) * (y - c)), _geometry.MaskRadius);
            }
        }
    }

    private void Perturb(ReadOnlySpan<float> source, Span<float> target, ulong stream)
    {
        var rng = DeterministicRandom.ForStream(_options.Seed ^ 0x5EED5EEDUL, stream);
        var std = Contrast(source.ToArray());
        var n = _geometry.Size;
        var c = _geometry.Centre;
        for (var y = 0; y < n; y++)
        {
            for (var x = 0; x < n; x++)
            {
                var w = ParticleNormalization.MaskWeight(Math.Sqrt((x - c) * (x - c) + (y - c) * (y - c)), _geometry.MaskRadius);
                target[y * n + x] = (float)(source[y * n + x] + 0.5 * std * w * rng.NextGaussian());
            }
        }
    }

    /// <summary>Standard deviation of an image inside the mask radius.</summary>
    private double Contrast(float[] image)
    {
        var n = _geometry.Size;
        var c = _geometry.Centre;
        double sum = 0, sumSq = 0;
        long count = 0;
        for (var y = 0; y < n; y++)
        {
            for (var x = 0; x < n; x++)
            {
                if ((x - c) * (x - c) + (y - c) * (y - c) > _geometry.MaskRadius * _geometry.MaskRadius) continue;
                double v = image[y * n + x];
                sum += v;
                sumSq += v * v;
                count++;
            }
        }
        if (count == 0) return 0;
        var mean = sum / count;
        return Math.Sqrt(Math.Max(0, sumSq / count - mean * mean));
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
