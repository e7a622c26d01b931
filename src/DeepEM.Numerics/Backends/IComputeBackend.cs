using DeepEM.Numerics.Network;
using DeepEM.Numerics.Scoring;

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

    /// <summary>The dense scorer of whole micrographs on this device, for these parameters (kept on the device while it lives).</summary>
    IDenseScorer CreateDenseScorer(float[] parameters);

    /// <summary>Network output (0..1) for each box.</summary>
    void Score(ReadOnlySpan<float> parameters, ReadOnlySpan<float> boxes, int count, Span<float> scores);

    /// <summary>
    /// Writes into <paramref name="gradient"/> the sum over boxes of d(loss)/d(parameters), and returns the
    /// summed loss. The sum is taken in a fixed order, so the result does not depend on thread scheduling.
    /// </summary>
    double Gradient(ReadOnlySpan<float> parameters, ReadOnlySpan<float> boxes, ReadOnlySpan<float> targets, int count,
        LossKind loss, Span<float> gradient, Span<float> scores);

    /// <summary>
    /// The gradient of each chunk of <see cref="GradientChunks.Size"/> consecutive boxes on its own: chunk c's
    /// sum at <c>c·ParameterCount</c> of <paramref name="gradients"/>, its summed loss in <paramref name="losses"/>[c].
    /// Data-parallel training computes chunks on different nodes and adds them in chunk order, which on the managed
    /// backend is exactly what <see cref="Gradient"/> does, so the result does not depend on how many nodes helped.
    /// </summary>
    void ChunkGradients(ReadOnlySpan<float> parameters, ReadOnlySpan<float> boxes, ReadOnlySpan<float> targets, int count,
        LossKind loss, Span<float> gradients, Span<double> losses)
    {
        var n = Architecture.ParameterCount;
        var pixels = Architecture.BoxSize * Architecture.BoxSize;
        var scores = new float[GradientChunks.Size];
        for (var c = 0; c < GradientChunks.Count(count); c++)
        {
            var first = c * GradientChunks.Size;
            var m = Math.Min(GradientChunks.Size, count - first);
            losses[c] = Gradient(parameters, boxes.Slice(first * pixels, m * pixels), targets.Slice(first, m), m, loss, gradients.Slice(c * n, n), scores);
        }
    }
}

/// <summary>The fixed partition of a batch into chunks whose gradients are summed in order (see <see cref="IComputeBackend.ChunkGradients"/>).</summary>
public static class GradientChunks
{
    public const int Size = 16;

    public static int Count(int boxes) => (boxes + Size - 1) / Size;
}
