using DeepEM.Imaging;

namespace DeepEM.Formats;

/// <summary>A micrograph as read from disk: its name (file name without extension), pixels and pixel size.</summary>
public sealed record Micrograph(string Name, string Path, Image2D Image, double? PixelSizeAngstrom, string FormatDescription);

/// <summary>A micrograph binned as it was read: its binned pixels, and the size of the file's image.</summary>
public sealed record BinnedMicrograph(string Name, string Path, Image2D Image, int Binning, int OriginalWidth, int OriginalHeight, double? PixelSizeAngstrom,
    string FormatDescription);
