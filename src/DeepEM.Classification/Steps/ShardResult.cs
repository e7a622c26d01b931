namespace DeepEM.Classification.Steps;

/// <summary>One shard's part of one step. Parts are added in shard order, so the sum never depends on which node computed what.</summary>
public abstract record ShardResult(int Shard);

/// <summary>Count, Σf and Σf·fᵀ (row-major, Features × Features) of the shard's features.</summary>
public sealed record FeatureSums(int Shard, long Count, double[] Sum, double[] Outer) : ShardResult(Shard);

/// <summary>The sampled particles (index in the shard) and their projected features, Components each.</summary>
public sealed record FeatureSample(int Shard, int[] Particles, float[] Features) : ShardResult(Shard);

/// <summary>Per cluster: particle count and Σz (Components each); the summed squared distances to the nearest centroid.</summary>
public sealed record ClusterSums(int Shard, long[] Counts, double[] Sums, double Inertia) : ShardResult(Shard);

/// <summary>
/// Per cluster: the squared distance of the shard's particle nearest the centroid, its index in the shard (−1 when the
/// shard has no particle in that cluster) and its image (Pixels floats per cluster, zeros where there is none).
/// </summary>
public sealed record ClusterSeeds(int Shard, double[] Distances, int[] Particles, float[] Images) : ShardResult(Shard);

/// <summary>
/// Per class: particle count, the sum of the aligned particles (Pixels floats per class) and the sum of their scores.
/// <see cref="Assigned"/> holds every particle's result when the step asked for them.
/// </summary>
public sealed record ClassSums(int Shard, long[] Counts, float[] Sums, double[] Scores, ParticleAssignment[]? Assigned) : ShardResult(Shard);

/// <summary>
/// Where one particle went: <see cref="Source"/> is its pick's index in the shard; the class average, turned by
/// <see cref="PsiDegrees"/> (from +x towards +y about the box centre) and moved by (<see cref="ShiftX"/>, <see cref="ShiftY"/>)
/// binned pixels, matches the particle with normalised correlation <see cref="Score"/>.
/// </summary>
public readonly record struct ParticleAssignment(int Source, int Class, float PsiDegrees, float ShiftX, float ShiftY, float Score);
