namespace DeepEM.Numerics.Network;

/// <summary>
/// One stage of the DeepEM network: a valid (unpadded, stride-1) convolution of all input maps into
/// <see cref="OutChannels"/> maps with one shared bias per map, the activation, then average subsampling
/// over non-overlapping <see cref="Pool"/>×<see cref="Pool"/> blocks (a remainder row or column is dropped).
/// </summary>
public sealed record ConvStage(
    int InChannels,
    int OutChannels,
    int Kernel,
    int Pool,
    int InHeight,
    int InWidth)
{
    public int ConvHeight => InHeight - Kernel + 1;
    public int ConvWidth => InWidth - Kernel + 1;
    public int OutHeight => ConvHeight / Pool;
    public int OutWidth => ConvWidth / Pool;

    public int WeightCount => OutChannels * InChannels * Kernel * Kernel;

    /// <summary>Multiply-adds of the convolution for one box.</summary>
    public long ConvMacs => (long)OutChannels * InChannels * Kernel * Kernel * ConvHeight * ConvWidth;

    public override string ToString() =>
        $"{OutChannels}@{Kernel}x{Kernel} ({InHeight}x{InWidth} -> {ConvHeight}x{ConvWidth}), pool {Pool} -> {OutHeight}x{OutWidth}";
}
