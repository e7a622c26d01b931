using System.Runtime.InteropServices;

namespace DeepEM.Numerics.Scoring;

/// <summary>
/// The dense scorer's large arrays (band windows, rotated images, score maps): pinned, and on Linux advised to the kernel
/// for 2 MB pages before their first use. In this virtual machine a 4 KB page fault costs about 10 µs, and 200 MB took
/// 580 ms to fault in 4 KB at a time against 330 ms in 2 MB pages (what is left is the kernel zeroing fresh memory). When
/// bands held whole stages (about 230 MB for a micrograph's first scoring), one real micrograph end to end went from 2.75
/// to 2.40 s (docs/benchmarks.md); bands streamed a few rows at a time now hold far less. Transparent huge pages in
/// their default "madvise" mode serve only ranges advised so; where they are off, or the call fails, the array is an
/// ordinary one.
/// </summary>
internal static class LargeBuffers
{
    private const long HugePage = 2L << 20;
    private const int MadviseHugePage = 14; // MADV_HUGEPAGE

    /// <summary>A zeroed array of <paramref name="length"/> floats that the collector never moves.</summary>
    public static float[] Allocate(int length)
    {
        var array = GC.AllocateArray<float>(length, pinned: true);
        if (OperatingSystem.IsLinux() && (long)length * sizeof(float) >= 2 * HugePage) Advise(array);
        return array;
    }

    private static unsafe void Advise(float[] array)
    {
        fixed (float* p = array)
        {
            // Only whole 2 MB pages inside the array: its first and last bytes share pages with other objects.
            var start = ((long)p + HugePage - 1) & ~(HugePage - 1);
            var end = ((long)p + (long)array.Length * sizeof(float)) & ~(HugePage - 1);
            if (end <= start) return;
            try
            {
                _ = madvise((nint)start, (nuint)(end - start), MadviseHugePage);
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                // A C library without madvise: the array stays an ordinary one.
            }
        }
    }

    [DllImport("libc", EntryPoint = "madvise")]
    private static extern int madvise(nint address, nuint length, int advice);
}
