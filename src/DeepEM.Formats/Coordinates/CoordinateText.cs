using System.Globalization;

namespace DeepEM.Formats.Coordinates;

/// <summary>Number formatting and parsing shared by the coordinate formats: invariant culture, no exponent.</summary>
internal static class CoordinateText
{
    public static string Coordinate(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    public static string Score(double v) => v.ToString("0.######", CultureInfo.InvariantCulture);

    public static double Parse(string text, string path, int line, string what)
    {
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v))
        {
            return v;
        }
        throw new BadInputException(path, $"line {line}: {what} '{text}' is not a number");
    }

    public static string[] ReadLines(string path)
    {
        try
        {
            return File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BadInputException(path, e is FileNotFoundException ? "no such file" : e.Message);
        }
    }
}
