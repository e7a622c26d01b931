namespace DeepEM.Numerics.Scoring;

/// <summary>
/// Network scores for every box position of an image: <c>this[x0, y0]</c> is the score of the box whose
/// top-left pixel is (x0, y0), for x0 in [0, Width) and y0 in [0, Height); Width = image width − box + 1.
/// </summary>
public sealed class ScoreMap(int width, int height, int boxSize, float[] data)
{
    public int Width { get; } = width;

    public int Height { get; } = height;

    public int BoxSize { get; } = boxSize;

    public float[] Data { get; } = data;

    public float this[int x0, int y0] => Data[y0 * Width + x0];
}
