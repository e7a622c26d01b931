using DeepEM.Numerics.Network;

namespace DeepEM.Numerics.Layers;

/// <summary>
/// The hidden units' activation: the paper's logistic y = 1/(1 + e^−x), whose derivative is y(1 − y), or
/// the rectifier y = max(0, x), whose derivative is 1 where y > 0. The forward pass is fused into the
/// convolution's store (<see cref="Convolution.Activate(System.Runtime.Intrinsics.Vector256{float}, int)"/>);
/// the backward pass is here.
/// </summary>
public static class HiddenActivation
{
    public static double Derivative(Activation kind, double y) => kind == Activation.Relu ? (y > 0 ? 1 : 0) : y * (1 - y);

    /// <summary>dz = dy · f′ on the valid columns of each row; garbage columns of dz stay untouched (zero).</summary>
    public static void Backward(Activation kind, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, int dyStride, Span<float> dz,
        int planes, int planeSize, int rows, int stride, int width)
    {
        for (var c = 0; c < planes; c++)
        {
            for (var r = 0; r < rows; r++)
            {
                var yRow = y.Slice(c * planeSize + r * stride, width);
                var dyRow = dy.Slice(c * planeSize + r * dyStride, width);
                var dzRow = dz.Slice(c * planeSize + r * stride, width);
                if (kind == Activation.Relu)
                {
                    for (var x = 0; x < width; x++) dzRow[x] = yRow[x] > 0 ? dyRow[x] : 0f;
                }
                else
                {
                    for (var x = 0; x < width; x++) dzRow[x] = dyRow[x] * yRow[x] * (1 - yRow[x]);
                }
            }
        }
    }
}
