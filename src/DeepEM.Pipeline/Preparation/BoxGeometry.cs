namespace DeepEM.Pipeline.Preparation;

/// <summary>
/// Where a box of <c>size</c> pixels sits for a particle centre, in one convention used by training and
/// picking alike: the box's top-left pixel is round(centre) − size/2 (integer division), so its centre pixel
/// is top-left + size/2.
/// </summary>
public static class BoxGeometry
{
    public static int TopLeft(double centre, int size) => (int)Math.Round(centre, MidpointRounding.AwayFromZero) - size / 2;

    public static int Centre(int topLeft, int size) => topLeft + size / 2;

    public static bool Fits(int x0, int y0, int size, int width, int height) =>
        x0 >= 0 && y0 >= 0 && x0 + size <= width && y0 + size <= height;
}
