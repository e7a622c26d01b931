namespace DeepEM.Formats.Mrc;

/// <summary>The data modes of the MRC 2014 standard that micrographs use.</summary>
public enum MrcMode
{
    /// <summary>8-bit signed integer (the 2014 standard reads mode 0 as signed).</summary>
    Int8 = 0,
    Int16 = 1,
    Float32 = 2,
    UInt16 = 6,
    Float16 = 12,
}

public static class MrcModes
{
    public static bool IsSupported(int mode) => mode is 0 or 1 or 2 or 6 or 12;

    public static int BytesPerVoxel(MrcMode mode) => mode switch
    {
        MrcMode.Int8 => 1,
        MrcMode.Int16 => 2,
        MrcMode.Float32 => 4,
        MrcMode.UInt16 => 2,
        MrcMode.Float16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "unsupported MRC mode"),
    };

    public static string Describe(MrcMode mode) => mode switch
    {
        MrcMode.Int8 => "mode 0 (int8)",
        MrcMode.Int16 => "mode 1 (int16)",
        MrcMode.Float32 => "mode 2 (float32)",
        MrcMode.UInt16 => "mode 6 (uint16)",
        MrcMode.Float16 => "mode 12 (float16)",
        _ => $"mode {(int)mode}",
    };
}
