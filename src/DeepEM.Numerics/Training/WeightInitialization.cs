using DeepEM.Imaging.Randomness;
using DeepEM.Numerics.Network;

namespace DeepEM.Numerics.Training;

/// <summary>
/// Seeded random initial weights, Glorot-uniform; biases start at zero. The first layer sees normalised
/// (zero-mean) pixels and gets Glorot and Bengio's ×4 for sigmoid units; later layers see sigmoid outputs,
/// all positive around 0.5, whose sums grow with the fan-in, so they get the plain Glorot range: with ×4 the
/// output unit of a 64 px network (300 inputs) starts saturated and squared-error training never leaves it.
/// The same seed gives the same bytes on every machine.
/// </summary>
public static class WeightInitialization
{
    public static float[] Create(NetworkArchitecture architecture, ulong seed)
    {
        var rng = DeterministicRandom.ForStream(seed, 0x1417);
        var p = new float[architecture.ParameterCount];
        var layout = architecture.Layout;
        for (var s = 0; s < architecture.Stages.Count; s++)
        {
            var st = architecture.Stages[s];
            var fanIn = st.InChannels * st.Kernel * st.Kernel;
            var fanOut = st.OutChannels * st.Kernel * st.Kernel / (double)(st.Pool * st.Pool);
            // Rectifiers: He's range, which keeps the activations' variance from layer to layer.
            var limit = architecture.Activation == Activation.Relu
                ? Math.Sqrt(6.0 / fanIn)
                : (s == 0 ? 4 : 1) * Math.Sqrt(6 / (fanIn + fanOut));
            for (var i = 0; i < st.WeightCount; i++)
            {
                p[layout.WeightOffset(s) + i] = (float)rng.NextDouble(-limit, limit);
            }
        }
        var denseLimit = Math.Sqrt(6.0 / (architecture.DenseInputs + 1));
        for (var i = 0; i < architecture.DenseInputs; i++)
        {
            p[layout.DenseWeightOffset + i] = (float)rng.NextDouble(-denseLimit, denseLimit);
        }
        // Batch normalisation starts as the identity on normalised maps: scales 1, shifts 0.
        for (var s = 0; s < architecture.Stages.Count && architecture.BatchNorm; s++)
        {
            Array.Fill(p, 1f, layout.ScaleOffset(s), architecture.Stages[s].OutChannels);
        }
        return p;
    }
}
