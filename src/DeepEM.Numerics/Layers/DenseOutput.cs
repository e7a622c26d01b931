namespace DeepEM.Numerics.Layers;

/// <summary>
/// The output unit: one sigmoid neuron fully connected to every pixel of every map of the last stage,
/// y = σ(Σ w·a + b). Weights are ordered [channel][y][x]; the maps are read through their stride.
/// </summary>
public static class DenseOutput
{
    public static float Forward(ReadOnlySpan<float> maps, int channels, int plane, int stride, int height, int width,
        ReadOnlySpan<float> weights, float bias, out float preActivation)
    {
        double z = bias;
        var w = 0;
        for (var c = 0; c < channels; c++)
        {
            for (var y = 0; y < height; y++)
            {
                var row = maps.Slice(c * plane + y * stride, width);
                var wr = weights.Slice(w, width);
                float s = 0;
                for (var x = 0; x < width; x++) s += row[x] * wr[x];
                z += s;
                w += width;
            }
        }
        preActivation = (float)z;
        return Sigmoid.Forward(preActivation);
    }

    /// <summary>Given dE/dz of the output unit: accumulates dW += dz·a, dB += dz, and writes dA = dz·w.</summary>
    public static void Backward(float dz, ReadOnlySpan<float> maps, int channels, int plane, int stride, int height, int width,
        ReadOnlySpan<float> weights, Span<float> dWeights, ref float dBias, Span<float> dMaps)
    {
        dBias += dz;
        var w = 0;
        for (var c = 0; c < channels; c++)
        {
            for (var y = 0; y < height; y++)
            {
                var row = maps.Slice(c * plane + y * stride, width);
                var dRow = dMaps.Slice(c * plane + y * stride, width);
                for (var x = 0; x < width; x++)
                {
                    dWeights[w + x] += dz * row[x];
                    dRow[x] = dz * weights[w + x];
                }
                w += width;
            }
        }
    }
}
