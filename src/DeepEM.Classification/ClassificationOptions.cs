namespace DeepEM.Classification;

/// <summary>How a classification runs (the geometry is separate: <see cref="ParticleGeometry"/>).</summary>
public sealed record ClassificationOptions
{
    /// <summary>Number of classes (K).</summary>
    public int Classes { get; init; } = 10;

    /// <summary>Principal components of the rotation-invariant features that k-means works in.</summary>
    public int Components { get; init; } = 12;

    /// <summary>About this many particles, sampled deterministically, seed k-means (k-means++ with restarts).</summary>
    public int SampleSize { get; init; } = 5000;

    /// <summary>k-means++ seedings tried on the sample; the one with the least spread wins.</summary>
    public int SeedRestarts { get; init; } = 8;

    /// <summary>Lloyd iterations over every particle, at most (fewer when the spread stops falling).</summary>
    public int KMeansRounds { get; init; } = 15;

    /// <summary>Rounds in which each particle is aligned to its own cluster's average only (seed → average).</summary>
    public int RestrictedRounds { get; init; } = 3;

    /// <summary>Rounds of alignment to every class average, each particle going to its best class; the last gives the result.</summary>
    public int AlignmentRounds { get; init; } = 8;

    public ulong Seed { get; init; } = 1;

    public void Validate()
    {
        if (Classes < 1 || Classes > 400) throw new ArgumentOutOfRangeException(nameof(Classes), $"{Classes} classes: must be 1..400");
        if (Components < 1) throw new ArgumentOutOfRangeException(nameof(Components), "at least one principal component");
        if (AlignmentRounds < 1) throw new ArgumentOutOfRangeException(nameof(AlignmentRounds), "at least one alignment round");
        if (RestrictedRounds < 0 || KMeansRounds < 1 || SampleSize < 1 || SeedRestarts < 1) throw new ArgumentOutOfRangeException(nameof(KMeansRounds), "rounds and sizes must be positive");
    }
}
