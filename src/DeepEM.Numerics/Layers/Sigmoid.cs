using System.Numerics.Tensors;

namespace DeepEM.Numerics.Layers;

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
