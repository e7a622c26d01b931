using System.Numerics.Tensors;
using DeepEM.Numerics.Network;

namespace DeepEM.Numerics.Layers;

/// <summary>
/// The hidden units' activation, forward and backward: the paper's logistic y = 1/(1 + e^−x), whose
/// derivative is y(1 − y), or the rectifier y = max(0, x), whose derivative is 1 where y > 0.
/// </summary>
public static class HiddenActivation
{
    public static void Forward(Activation kind, Span<float> data, int planes, int planeSize, int count)
    {
        for (var c = 0; c < planes; c++)
        {
            var plane = data.Slice(c * planeSize, count);
            if (kind == Activation.Relu)
            {
                TensorPrimitives.Max(plane, 0f, plane);
            }
            else
            {
                TensorPrimitives.Sigmoid(plane, plane);
            }
        }
    }

    public static double Derivative(Activation kind, double y) => kind == Activation.Relu ? (y > 0 ? 1 : 0) : y * (1 - y);

    /// <summary>dz = dy · f′ on the valid columns of each row; garbage columns of dz stay untouched (zero).</summary>
    public static void Backward(Activation kind, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, int dyStride, Span<float> dz,
        int planes, int planeSize, int rows, int stride, int width)
    {
        if (kind == Activation.Sigmoid)
        {
            Sigmoid.Backward(y, dy, dyStride, dz, planes, planeSize, rows, stride, width);
            return;
        }
        for (var c = 0; c < planes; c++)
        {
            for (var r = 0; r < rows; r++)
            {
                var yRow = y.Slice(c * planeSize + r * stride, width);
                var dyRow = dy.Slice(c * planeSize + r * dyStride, width);
                var dzRow = dz.Slice(c * planeSize + r * stride, width);
                for (var x = 0; x < width; x++)
                {
                    dzRow[x] = yRow[x] > 0 ? dyRow[x] : 0f;
                }
            }
        }
    }
}

/// <summary>The logistic activation y = 1/(1 + e^−x) of the paper, forward and backward.</summary>
public static class Sigmoid
{
    /// <summary>In place, over the first <paramref name="count"/> values of each of <paramref name="planes"/> planes.</summary>
    public static void Forward(Span<float> data, int planes, int planeSize, int count)
    {
        for (var c = 0; c < planes; c++)
        {
            var plane = data.Slice(c * planeSize, count);
            TensorPrimitives.Sigmoid(plane, plane);
        }
    }

    public static float Forward(float x) => 1f / (1f + MathF.Exp(-x));

    /// <summary>
    /// dz = dy · y(1 − y) on the valid columns of each row; the garbage columns of <paramref name="dz"/> are
    /// left untouched (they must stay zero for the flat weight-gradient sums).
    /// </summary>
    public static void Backward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, int dyStride, Span<float> dz,
        int planes, int planeSize, int rows, int stride, int width)
    {
        for (var c = 0; c < planes; c++)
        {
            for (var r = 0; r < rows; r++)
            {
                var yRow = y.Slice(c * planeSize + r * stride, width);
                var dyRow = dy.Slice(c * planeSize + r * dyStride, width);
                var dzRow = dz.Slice(c * planeSize + r * stride, width);
                for (var x = 0; x < width; x++)
                {
                    var v = yRow[x];
                    dzRow[x] = dyRow[x] * v * (1 - v);
                }
            }
        }
    }
}
