namespace DeepEM.Classification.Steps;

/// <summary>
/// A linear map of the particles' rotation-invariant features to a few principal components:
/// z = Basis·(f − Mean), Basis holding <see cref="Components"/> rows of <c>Mean.Length</c> values.
/// </summary>
public sealed record Projection(float[] Mean, float[] Basis, int Components)
{
    public int Features => Mean.Length;
}

/// <summary>
/// One step of a classification, the same for every shard: each shard computes its part (<see cref="ShardComputation"/>)
/// from its particles and this alone, so any node can compute any shard's part of any step, and a part computed twice
/// is the same. <see cref="Number"/> counts the steps of the run.
/// </summary>
public abstract record ClassificationStep(int Number);

/// <summary>Sums of the features and of their outer products (for the principal components).</summary>
public sealed record FeatureStep(int Number) : ClassificationStep(Number);

/// <summary>The projected features of a deterministic sample of the particles (to seed k-means).</summary>
public sealed record SampleStep(int Number, Projection Projection, double Fraction, ulong Seed) : ClassificationStep(Number);

/// <summary>One Lloyd iteration of k-means: per-cluster sums of the projected features of the particles nearest each centroid.</summary>
public sealed record ClusterStep(int Number, Projection Projection, float[] Centroids, int Clusters) : ClassificationStep(Number);

/// <summary>Per cluster, the particle nearest its centroid (its image seeds the cluster's class average).</summary>
public sealed record SeedStep(int Number, Projection Projection, float[] Centroids, int Clusters) : ClassificationStep(Number);

/// <summary>
/// One round of alignment to the class averages (<see cref="Classes"/> images one after another): each particle goes
/// to its best class, angle and shift, and is added, aligned, to that class's sum. With <see cref="Restrict"/> a
/// particle is aligned to the class of its k-means cluster only (the first rounds, which turn a cluster's seed into
/// its average). With <see cref="Assignments"/> each particle's result is returned too (the last round).
/// </summary>
public sealed record AlignStep(int Number, float[] References, int Classes, ClusterStep? Restrict, bool Assignments) : ClassificationStep(Number);
