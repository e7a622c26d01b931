namespace DeepEM.Numerics.Network;

/// <summary>Loss functions by the names the command line, the model file's record and the cluster's messages use.</summary>
public static class LossNames
{
    public static string Of(LossKind loss) => loss == LossKind.SquaredError ? "squared-error" : "cross-entropy";

    public static LossKind Parse(string name) => name switch
    {
        "squared-error" => LossKind.SquaredError,
        "cross-entropy" => LossKind.CrossEntropy,
        _ => throw new ArgumentException($"unknown loss '{name}' (squared-error, cross-entropy)"),
    };
}
