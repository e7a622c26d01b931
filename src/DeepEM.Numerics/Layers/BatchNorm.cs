using DeepEM.Numerics.Network;

namespace DeepEM.Numerics.Layers;

/// <summary>
/// Batch normalisation of a convolution's maps over a batch of boxes (Ioffe and Szegedy 2015), between the
/// convolution and its activation: per map c, over every box and every valid pixel, x̂ = (z − μ_c)/√(σ²_c + ε) and
/// y = γ_c·x̂ + β_c. The batch is one gradient chunk, so that chunks stay independent and data-parallel training
/// gives the bytes of one process. For picking the statistics of many training boxes are folded into the convolution
/// (<see cref="Fold"/>), which leaves a plain convolution: dense scoring is unchanged.
/// Maps are the flat planes of <see cref="Convolution"/>: rows of <c>stride</c> floats of which <c>width</c> are valid.
/// </summary>
public static class BatchNorm
{
    public const float Epsilon = 1e-5f;

    /// <summary>
    /// Normalises the maps of every box in place (z becomes the activation of y) and keeps x̂ for the backward pass;
    /// writes each map's 1/√(σ² + ε) into <paramref name="invStd"/>. Sums in double, boxes in order.
    /// </summary>
    public static void Forward(IReadOnlyList<float[]> z, IReadOnlyList<float[]> xhat, int maps, int plane, int rows, int stride, int width,
        ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, Activation activation, Span<float> invStd)
    {
        var n = (double)z.Count * rows * width;
        for (var c = 0; c < maps; c++)
        {
            double sum = 0, squares = 0;
            foreach (var box in z)
                for (var r = 0; r < rows; r++)
                {
                    var row = box.AsSpan(c * plane + r * stride, width);
                    foreach (var v in row) sum += v;
                }
            var mean = sum / n;
            foreach (var box in z)
                for (var r = 0; r < rows; r++)
                {
                    var row = box.AsSpan(c * plane + r * stride, width);
                    foreach (var v in row) squares += (v - mean) * (v - mean);
                }
            var inv = 1 / Math.Sqrt(squares / n + Epsilon);
            invStd[c] = (float)inv;
            var (g, b) = (gamma[c], beta[c]);
            for (var i = 0; i < z.Count; i++)
                for (var r = 0; r < rows; r++)
                {
                    var zRow = z[i].AsSpan(c * plane + r * stride, width);
                    var xRow = xhat[i].AsSpan(c * plane + r * stride, width);
                    for (var x = 0; x < width; x++)
                    {
                        var normalised = (float)((zRow[x] - mean) * inv);
                        xRow[x] = normalised;
                        var y = g * normalised + b;
                        zRow[x] = activation == Activation.Relu ? MathF.Max(y, 0f) : Convolution.Activate(y, 0);
                    }
                }
        }
    }

    /// <summary>
    /// From dL/dy of every box (in place) to dL/dz, adding dL/dγ and dL/dβ of each map:
    /// dz = γ·inv·(dy − Σdy/N − x̂·Σ(dy·x̂)/N), with Σdy = dβ and Σ(dy·x̂) = dγ over the batch.
    /// </summary>
    public static void Backward(IReadOnlyList<float[]> dy, IReadOnlyList<float[]> xhat, int maps, int plane, int rows, int stride, int width,
        ReadOnlySpan<float> gamma, ReadOnlySpan<float> invStd, Span<float> dGamma, Span<float> dBeta)
    {
        var n = (double)dy.Count * rows * width;
        for (var c = 0; c < maps; c++)
        {
            double sumDy = 0, sumDyX = 0;
            for (var i = 0; i < dy.Count; i++)
                for (var r = 0; r < rows; r++)
                {
                    var dRow = dy[i].AsSpan(c * plane + r * stride, width);
                    var xRow = xhat[i].AsSpan(c * plane + r * stride, width);
                    for (var x = 0; x < width; x++)
                    {
                        sumDy += dRow[x];
                        sumDyX += dRow[x] * (double)xRow[x];
                    }
                }
            dBeta[c] += (float)sumDy;
            dGamma[c] += (float)sumDyX;
            var scale = gamma[c] * (double)invStd[c];
            var (meanDy, meanDyX) = (sumDy / n, sumDyX / n);
            for (var i = 0; i < dy.Count; i++)
                for (var r = 0; r < rows; r++)
                {
                    var dRow = dy[i].AsSpan(c * plane + r * stride, width);
                    var xRow = xhat[i].AsSpan(c * plane + r * stride, width);
                    for (var x = 0; x < width; x++) dRow[x] = (float)(scale * (dRow[x] - meanDy - xRow[x] * meanDyX));
                }
        }
    }

    /// <summary>
    /// Folds per-map statistics (mean and variance of the convolution's output z) and γ, β into the convolution:
    /// w′ = w·γ/√(σ² + ε), b′ = (b − μ)·γ/√(σ² + ε) + β, so that w′∗x + b′ is the normalised map.
    /// </summary>
    public static void Fold(Span<float> weights, Span<float> bias, int maps, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        ReadOnlySpan<double> mean, ReadOnlySpan<double> variance)
    {
        var perMap = weights.Length / maps;
        for (var c = 0; c < maps; c++)
        {
            var factor = gamma[c] / Math.Sqrt(variance[c] + Epsilon);
            foreach (ref var w in weights.Slice(c * perMap, perMap)) w = (float)(w * factor);
            bias[c] = (float)((bias[c] - mean[c]) * factor + beta[c]);
        }
    }
}
