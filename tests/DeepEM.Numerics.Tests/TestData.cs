using DeepEM.Imaging.Randomness;
using DeepEM.Numerics.Network;

namespace DeepEM.Numerics.Tests;

internal static class TestData
{
    /// <summary>Gaussian boxes like normalised micrograph patches (never all zero).</summary>
    public static float[] Boxes(int count, int box, ulong seed)
    {
        var rng = new DeterministicRandom(seed);
        return Enumerable.Range(0, count * box * box).Select(_ => (float)rng.NextGaussian()).ToArray();
    }

    /// <summary>Parameters scaled like a trained sigmoid network: activations neither saturated nor flat.</summary>
    public static float[] Parameters(NetworkArchitecture arch, ulong seed)
    {
        var rng = new DeterministicRandom(seed);
        var p = new float[arch.ParameterCount];
        var layout = arch.Layout;
        for (var s = 0; s < arch.Stages.Count; s++)
        {
            var st = arch.Stages[s];
            var scale = 2.0 / Math.Sqrt(st.InChannels * st.Kernel * st.Kernel);
            for (var i = 0; i < st.WeightCount; i++) p[layout.WeightOffset(s) + i] = (float)(scale * rng.NextGaussian());
            for (var i = 0; i < st.OutChannels; i++) p[layout.BiasOffset(s) + i] = (float)(0.3 * rng.NextGaussian());
        }
        var ds = 4.0 / Math.Sqrt(arch.DenseInputs);
        for (var i = 0; i < arch.DenseInputs; i++) p[layout.DenseWeightOffset + i] = (float)(ds * rng.NextGaussian());
        p[layout.DenseBiasOffset] = 0.1f;
        return p;
    }

    public static double[] ToDouble(ReadOnlySpan<float> v) => v.ToArray().Select(x => (double)x).ToArray();

    /// <summary>‖a − b‖ / ‖b‖.</summary>
    public static double RelativeError(ReadOnlySpan<float> a, ReadOnlySpan<double> b)
    {
        double num = 0, den = 0;
        for (var i = 0; i < a.Length; i++)
        {
            num += (a[i] - b[i]) * (a[i] - b[i]);
            den += b[i] * b[i];
        }
        return Math.Sqrt(num / den);
    }

    /// <summary>A small network of the preset's shape family, quick enough for float64 finite differences.</summary>
    public static NetworkArchitecture Small(Activation activation = Activation.Sigmoid) =>
        new("test-small", 22, [new(3, 5, 2), new(6, 3, 2), new(4, 2, 1)], activation);
}
