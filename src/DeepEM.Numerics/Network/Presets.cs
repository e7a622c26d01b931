namespace DeepEM.Numerics.Network;

/// <summary>
/// Named network shapes. <c>paper-klh</c> is the paper's network for KLH (box 272: 6@51×51, pool 3, 12@20×20,
/// pool 2, 12@10×10, pool 2). <c>deepem-48</c>, the default, is sized for binned boxes of 48–64 px
/// (6@7×7, pool 2, 12@5×5, pool 2, 12@3×3, pool 2): about 1.1 M multiply-adds per 48 px box, so that it trains
/// in minutes on two cores. <c>deepem-48-relu</c> has the same shape with rectified linear hidden units, and
/// <c>deepem-48-bn</c> adds batch normalisation to them while training (folded away for picking).
/// </summary>
public static class Presets
{
    public const string Default = "deepem-48";
    public const string PaperKlh = "paper-klh";
    public const string DefaultRelu = "deepem-48-relu";
    public const string BatchNormRelu = "deepem-48-bn";

    private static readonly Dictionary<string, (int box, StageSpec[] specs, Activation activation, bool batchNorm)> All = new(StringComparer.OrdinalIgnoreCase)
    {
        [Default] = (48, [new(6, 7, 2), new(12, 5, 2), new(12, 3, 2)], Activation.Sigmoid, false),
        [PaperKlh] = (272, [new(6, 51, 3), new(12, 20, 2), new(12, 10, 2)], Activation.Sigmoid, false),
        [DefaultRelu] = (48, [new(6, 7, 2), new(12, 5, 2), new(12, 3, 2)], Activation.Relu, false),
        [BatchNormRelu] = (48, [new(6, 7, 2), new(12, 5, 2), new(12, 3, 2)], Activation.Relu, true),
    };

    public static IEnumerable<string> Names => All.Keys;

    /// <summary>The preset a batch-normalised one folds into (itself for the others).</summary>
    public static string WithoutBatchNorm(string preset) => string.Equals(preset, BatchNormRelu, StringComparison.OrdinalIgnoreCase) ? DefaultRelu : preset;

    /// <summary>The box size the preset was designed for.</summary>
    public static int NativeBoxSize(string preset) => Lookup(preset).box;

    /// <summary>The preset's stages on boxes of <paramref name="boxSize"/> (its native size if null).</summary>
    public static NetworkArchitecture Create(string preset, int? boxSize = null)
    {
        var (box, specs, activation, batchNorm) = Lookup(preset);
        return new NetworkArchitecture(preset.ToLowerInvariant(), boxSize ?? box, specs, activation, batchNorm);
    }

    private static (int box, StageSpec[] specs, Activation activation, bool batchNorm) Lookup(string preset) =>
        All.TryGetValue(preset, out var p)
            ? p
            : throw new ArgumentException($"unknown network preset '{preset}' (known: {string.Join(", ", All.Keys)})");
}
