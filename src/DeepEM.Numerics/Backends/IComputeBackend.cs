using DeepEM.Numerics.Network;

namespace DeepEM.Numerics.Backends;

/// <summary>
/// What training and picking need from a compute device, for one network architecture. Boxes are
/// <c>count</c> square images of <c>BoxSize²</c> floats, row-major, one after another; parameters and
/// gradients are flat vectors in <see cref="ParameterLayout"/> order.
/// </summary>
public interface IComputeBackend : IDisposable
{
    NetworkArchitecture Architecture { get; }

    /// <summary>The device, in words, for logs: "managed CPU, 2 threads, AVX2+FMA", "CUDA: NVIDIA H100", ….</summary>
    string Device { get; }

    /// <summary>Network output (0..1) for each box.</summary>
    void Score(ReadOnlySpan<float> parameters, ReadOnlySpan<float> boxes, int count, Span<float> scores);

    /// <summary>
    /// Writes into <paramref name="gradient"/> the sum over boxes of d(loss)/d(parameters), and returns the
    /// summed loss. The sum is taken in a fixed order, so the result does not depend on thread scheduling.
    /// </summary>
    double Gradient(ReadOnlySpan<float> parameters, ReadOnlySpan<float> boxes, ReadOnlySpan<float> targets, int count,
        LossKind loss, Span<float> gradient, Span<float> scores);
}
