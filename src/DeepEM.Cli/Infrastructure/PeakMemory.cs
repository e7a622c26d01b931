namespace DeepEM.Cli.Infrastructure;

/// <summary>The largest resident memory this process has had (Linux: VmHWM, what <c>/usr/bin/time</c> calls maximum resident set size).</summary>
public static class PeakMemory
{
    public static long Bytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                // "VmHWM:	  712728 kB"
                if (!line.StartsWith("VmHWM:", StringComparison.Ordinal)) continue;
                var kb = line["VmHWM:".Length..].Trim().Split(' ')[0];
                if (long.TryParse(kb, out var value)) return value * 1024;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not Linux, or no /proc: the runtime's own figure.
        }
        return System.Diagnostics.Process.GetCurrentProcess().PeakWorkingSet64;
    }

    /// <summary>For a summary line: "peak memory 713 MB".</summary>
    public static string Describe() => $"peak memory {Bytes() / 1_000_000} MB";
}
