using System.Diagnostics;
using DeepEM.Imaging.Randomness;
using DeepEM.Numerics.Layers;
using DeepEM.Numerics.Network;

namespace DeepEM.Numerics.Backends.Managed;

/// <summary>Rates of one convolution layer's three passes on the managed backend, all cores.</summary>
public sealed record LayerRate(int Stage, ConvStage Shape, long FlopsPerBox, double ForwardGFlops, double BackwardDataGFlops, double BackwardWeightsGFlops);

/// <summary>
/// Times each convolution layer's forward, backward-data and backward-weights kernels of the managed backend
/// over a batch of boxes spread on every core, as the backend runs them, and turns the time into GFLOP/s
/// (2 flops per multiply-add, counted from the layer sizes).
/// </summary>
public static class LayerBenchmark
{
    public static IReadOnlyList<LayerRate> Run(NetworkArchitecture arch, double secondsPerMeasurement = 1.0)
    {
        var shapes = new ManagedBackend.StageShapes(arch);
        var rates = new List<LayerRate>();
        var rng = new DeterministicRandom(1);
        for (var s = 0; s < arch.Stages.Count; s++)
        {
            var st = arch.Stages[s];
            var sh = shapes[s];
            var weights = Enumerable.Range(0, st.WeightCount).Select(_ => (float)(0.1 * rng.NextGaussian())).ToArray();
            var bias = new float[st.OutChannels];
            var packed = new float[Convolution.PackedLength(st.OutChannels, st.InChannels, st.Kernel)];
            Convolution.PackWeights(weights, st.OutChannels, st.InChannels, st.Kernel, packed);
            var flipped = new float[Convolution.PackedLength(st.InChannels, st.OutChannels, st.Kernel)];
            Convolution.PackWeights(weights, st.OutChannels, st.InChannels, st.Kernel, flipped, flipAndTranspose: true);
            var input = Enumerable.Range(0, st.InChannels * sh.InPlane).Select(_ => (float)rng.NextGaussian()).ToArray();
            var flops = 2 * st.ConvMacs;

            var forward = Rate(flops, secondsPerMeasurement, () => (new float[Convolution.PaddedOutputs(st.OutChannels) * sh.ConvPlane], 0),
                state => Convolution.Forward(input, st.InChannels, sh.InPlane, sh.Stride, packed, bias, st.OutChannels, st.Kernel, state.Item1, st.ConvHeight, sh.ConvPlane));
            var dOut = new float[st.OutChannels * sh.ConvPlane];
            for (var o = 0; o < st.OutChannels; o++)
                for (var y = 0; y < st.ConvHeight; y++)
                    for (var x = 0; x < st.ConvWidth; x++)
                        dOut[o * sh.ConvPlane + y * sh.Stride + x] = (float)rng.NextGaussian();
            var backwardData = s == 0 ? double.NaN : Rate(flops, secondsPerMeasurement,
                () => (new float[st.OutChannels * sh.PaddedPlane], new float[Convolution.PaddedOutputs(st.InChannels) * sh.DInputPlane]),
                state => Convolution.BackwardData(dOut, st.OutChannels, sh.ConvPlane, sh.Stride, st.ConvHeight, st.ConvWidth, flipped, st.InChannels, st.Kernel,
                    state.Item1, sh.PaddedPlane, state.Item2, sh.DInputPlane));
            var backwardWeights = Rate(flops, secondsPerMeasurement, () => (new float[st.WeightCount], new float[st.OutChannels]),
                state => Convolution.BackwardWeights(input, st.InChannels, sh.InPlane, sh.Stride, dOut, st.OutChannels, sh.ConvPlane, st.ConvHeight, st.Kernel, state.Item1, state.Item2));
            rates.Add(new LayerRate(s + 1, st, flops, forward, backwardData, backwardWeights));
        }
        return rates;
    }

    /// <summary>Runs <paramref name="work"/> on every core, each with its own buffers, until the time is up; GFLOP/s.</summary>
    private static double Rate<T>(long flopsPerCall, double seconds, Func<T> buffers, Action<T> work)
    {
        var threads = Environment.ProcessorCount;
        // Warm up (JIT, caches), then measure.
        var warm = buffers();
        work(warm);
        var calls = new long[threads];
        var watch = Stopwatch.StartNew();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var state = buffers();
            while (watch.Elapsed.TotalSeconds < seconds)
            {
                work(state);
                calls[t]++;
            }
        });
        var elapsed = watch.Elapsed.TotalSeconds;
        return calls.Sum() * (double)flopsPerCall / elapsed / 1e9;
    }
}
