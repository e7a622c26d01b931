namespace DeepEM.Numerics.Layers;

/// <summary>The logistic function of the paper's units, y = 1/(1 + e^−x), for one value (the output unit).</summary>
public static class Sigmoid
{
    public static float Forward(float x) => 1f / (1f + MathF.Exp(-x));
}
