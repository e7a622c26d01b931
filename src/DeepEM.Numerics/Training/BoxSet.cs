namespace DeepEM.Numerics.Training;

/// <summary>
/// Labelled square boxes in one flat array (box i at <c>i·size²</c>): 1 for particles, 0 for non-particles.
/// Rotations are not stored: they are applied when a batch is assembled, so memory holds each box once.
/// </summary>
public sealed class BoxSet
{
    private readonly List<float> _pixels = [];
    private readonly List<float> _labels = [];

    public BoxSet(int boxSize)
    {
        BoxSize = boxSize;
    }

    public int BoxSize { get; }

    public int Count => _labels.Count;

    public int Positives => _labels.Count(l => l > 0.5f);

    public void Add(ReadOnlySpan<float> box, float label)
    {
        if (box.Length != BoxSize * BoxSize)
        {
            throw new ArgumentException($"box of {box.Length} pixels, expected {BoxSize * BoxSize}");
        }
        foreach (var v in box) _pixels.Add(v);
        _labels.Add(label);
    }

    public ReadOnlySpan<float> Box(int index) => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pixels).Slice(index * BoxSize * BoxSize, BoxSize * BoxSize);

    public float Label(int index) => _labels[index];
}
