namespace DeepEM.Classification;

/// <summary>
/// The particle images of one shard, normalised and masked (<see cref="ParticleNormalization"/>), one after another,
/// <see cref="ParticleGeometry.Pixels"/> floats each. <see cref="Sources"/> says which of the shard's picks each image
/// came from (picks too near an edge have no image), so results can be written back against the picks.
/// </summary>
public sealed class ParticleSet
{
    public ParticleSet(ParticleGeometry geometry, float[] images, int[] sources)
    {
        if (images.Length != (long)sources.Length * geometry.Pixels)
        {
            throw new ArgumentException($"{images.Length} floats for {sources.Length} images of {geometry.Size}² px");
        }
        Geometry = geometry;
        Images = images;
        Sources = sources;
    }

    public ParticleGeometry Geometry { get; }

    public float[] Images { get; }

    public int[] Sources { get; }

    public int Count => Sources.Length;

    public ReadOnlySpan<float> Image(int i) => Images.AsSpan(i * Geometry.Pixels, Geometry.Pixels);
}
