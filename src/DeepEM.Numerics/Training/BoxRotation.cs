namespace DeepEM.Numerics.Training;

/// <summary>
/// The paper's ×4 augmentation: a square box rotated by 0, 90, 180 or 270 degrees (counter-clockwise when
/// row 0 is drawn at the top). Rotation by 90° maps (x, y) → (y, n−1−x).
/// </summary>
public static class BoxRotation
{
    public static void Rotate(ReadOnlySpan<float> source, Span<float> destination, int size, int quarterTurns)
    {
        var n = size;
        switch (((quarterTurns % 4) + 4) % 4)
        {
            case 0:
                source[..(n * n)].CopyTo(destination);
                break;
            case 1:
                for (var y = 0; y < n; y++)
                    for (var x = 0; x < n; x++)
                        destination[(n - 1 - x) * n + y] = source[y * n + x];
                break;
            case 2:
                for (var y = 0; y < n; y++)
                    for (var x = 0; x < n; x++)
                        destination[(n - 1 - y) * n + (n - 1 - x)] = source[y * n + x];
                break;
            default:
                for (var y = 0; y < n; y++)
                    for (var x = 0; x < n; x++)
                        destination[x * n + (n - 1 - y)] = source[y * n + x];
                break;
        }
    }
}
