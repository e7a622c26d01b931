namespace DeepEM.Formats.Coordinates;

/// <summary>
/// A particle centre in pixels of the micrograph as given: x the column, y the row of the pixel array in file
/// order (docs/cli.md). <see cref="Score"/> is the picker's figure of merit where the file has one.
/// </summary>
public readonly record struct Pick(double X, double Y, double? Score = null);

/// <summary>The coordinate file formats this project reads and writes.</summary>
public enum CoordinateFormat
{
    /// <summary>RELION per-micrograph .star (_rlnCoordinateX/Y, _rlnAutopickFigureOfMerit).</summary>
    Star,
    /// <summary>EMAN2 .box: x y w h, box corner.</summary>
    Box,
    /// <summary>.csv with an x,y header.</summary>
    Csv,
    /// <summary>Topaz .txt: image_name x_coord y_coord score, several micrographs per file.</summary>
    Topaz,
    /// <summary>crYOLO .cbox (read only).</summary>
    Cbox,
}
