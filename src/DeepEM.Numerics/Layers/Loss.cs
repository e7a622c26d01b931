using DeepEM.Numerics.Network;

namespace DeepEM.Numerics.Layers;

/// <summary>
/// Per-box loss and its derivative with respect to the output unit's pre-activation z, for y = σ(z):
/// squared error ½(y − t)² gives (y − t)·y(1 − y); cross-entropy −t ln y − (1 − t) ln(1 − y) gives y − t.
/// The trainer divides by the batch size (the paper's E = 1/(2N) Σ ‖t − y‖²).
/// </summary>
public static class Loss
{
    public static double Value(LossKind kind, double y, double t) => kind switch
    {
        LossKind.SquaredError => 0.5 * (y - t) * (y - t),
        LossKind.CrossEntropy => -(t * Math.Log(Math.Max(y, 1e-12)) + (1 - t) * Math.Log(Math.Max(1 - y, 1e-12))),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static float GradientAtPreActivation(LossKind kind, float y, float t) => kind switch
    {
        LossKind.SquaredError => (y - t) * y * (1 - y),
        LossKind.CrossEntropy => y - t,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
