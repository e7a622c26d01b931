using DeepEM.Imaging;

namespace DeepEM.Formats;

/// <summary>A micrograph as read from disk: its name (file name without extension), pixels and pixel size.</summary>
public sealed record Micrograph(string Name, string Path, Image2D Image, double? PixelSizeAngstrom, string FormatDescription);
