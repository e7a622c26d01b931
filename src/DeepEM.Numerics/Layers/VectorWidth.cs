using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DeepEM.Numerics.Layers;

/// <summary>
/// Whether the scoring kernels run on 512-bit vectors (AVX-512: sixteen floats) or on 256-bit ones (AVX2 + FMA: eight).
/// A core with full-width AVX-512 units (Zen 5, Sapphire Rapids) does twice the multiply-adds a cycle at 512 bits.
///
/// Every wide kernel computes each output pixel in one lane with the very operations, in the very order, of the 256-bit
/// kernel (no sum across lanes, the same exponential), so a node with AVX-512 and one without give the same scores to
/// the bit, and the picks of a campaign do not depend on which nodes scored which micrographs. DenseScorerTests and
/// the kernels' tests compare the two widths to the bit where the processor has both.
///
/// The runtime's own switch turns the wide kernels off for a process: DOTNET_EnableAVX512F=0.
/// </summary>
public static class VectorWidth
{
    private static readonly bool Hardware = Avx512F.IsSupported && Vector512.IsHardwareAccelerated && Fma.IsSupported;

    // A flow-local override, so that a test can run the narrow kernels beside tests that run the wide ones (it reaches
    // the threads of Parallel.For with the execution context).
    private static readonly AsyncLocal<bool> Narrowed = new();

    /// <summary>Whether the wide kernels run here and now.</summary>
    public static bool Wide => Hardware && !Narrowed.Value;

    /// <summary>Whether this processor and runtime can run the wide kernels at all.</summary>
    public static bool WideAvailable => Hardware;

    /// <summary>The width the scoring kernels use, in bits, for reports.</summary>
    public static int Bits => Wide ? 512 : Fma.IsSupported ? 256 : 32;

    /// <summary>Runs the 256-bit kernels in this flow until disposed (for the tests that compare the widths).</summary>
    internal static IDisposable Narrow()
    {
        var before = Narrowed.Value;
        Narrowed.Value = true;
        return new Restore(before);
    }

    private sealed class Restore(bool before) : IDisposable
    {
        public void Dispose() => Narrowed.Value = before;
    }
}
