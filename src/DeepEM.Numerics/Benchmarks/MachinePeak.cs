using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Text.RegularExpressions;

namespace DeepEM.Numerics.Benchmarks;

/// <summary>
/// This machine's peak float32 rate: cores × SIMD lanes × FMA units × 2 flops × clock. The clock is the
/// highest the kernel reports (cpufreq maximum, else the model name's "@ x GHz", else /proc/cpuinfo's MHz);
/// x86 processors with FMA have had two FMA units per core since Haswell and Zen, which is assumed here.
/// A virtual machine often reports only the base clock while the cores run at their boost clock, so the
/// peak is also measured: a loop of independent FMAs on every core (<see cref="MeasuredGFlops"/>), whose
/// rate gives the clock the cores really run at.
/// </summary>
public sealed record MachinePeak(string Processor, int Cores, int SimdLanes, int FmaUnits, double ClockGHz, string ClockSource)
{
    /// <summary>The peak from the formula with the reported clock.</summary>
    public double NominalGFlops => Cores * SimdLanes * FmaUnits * 2 * ClockGHz;

    /// <summary>The FMA throughput measured on all cores (set by <see cref="Measure"/>).</summary>
    public double MeasuredGFlops { get; init; }

    /// <summary>The clock that the measured rate implies.</summary>
    public double EffectiveClockGHz => MeasuredGFlops / (Cores * SimdLanes * FmaUnits * 2);

    /// <summary>The peak to compare kernels with: the higher of the two, so no kernel shows above 100%.</summary>
    public double GFlops => Math.Max(NominalGFlops, MeasuredGFlops);

    public static MachinePeak Measure()
    {
        var cpuinfo = File.Exists("/proc/cpuinfo") ? File.ReadAllText("/proc/cpuinfo") : "";
        var model = Regex.Match(cpuinfo, @"model name\s*:\s*(.+)").Groups[1].Value.Trim();
        double ghz = 0;
        var source = "unknown";
        const string maxFreq = "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq";
        if (File.Exists(maxFreq) && double.TryParse(File.ReadAllText(maxFreq).Trim(), out var khz) && khz > 0)
        {
            ghz = khz / 1e6;
            source = "cpufreq maximum";
        }
        else if (Regex.Match(model, @"@\s*([0-9.]+)\s*GHz") is { Success: true } m)
        {
            ghz = double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            source = "model name";
        }
        else if (Regex.Matches(cpuinfo, @"cpu MHz\s*:\s*([0-9.]+)") is { Count: > 0 } mhz)
        {
            ghz = mhz.Max(x => double.Parse(x.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)) / 1000;
            source = "/proc/cpuinfo MHz";
        }
        // The width the scoring kernels use (Layers.VectorWidth): 16 lanes with AVX-512, where the kernels run at 512 bits.
        var lanes = Layers.VectorWidth.Wide ? 16 : Vector256.IsHardwareAccelerated ? 8 : Vector128.IsHardwareAccelerated ? 4 : 1;
        var fmaUnits = Fma.IsSupported ? 2 : 1;
        return new MachinePeak(model.Length > 0 ? model : "unknown processor", Environment.ProcessorCount, lanes, fmaUnits, ghz, source)
        {
            MeasuredGFlops = Fma.IsSupported ? MeasureFmaRate(0.5) : 0,
        };
    }

    /// <summary>
    /// GFLOP/s of 10 independent chains of FMAs per core, at the kernels' width (512 bits with AVX-512, else 256) (enough to hide the FMA latency on two units,
    /// few enough to stay in registers), all cores started together; each thread's rate is timed on its own.
    /// </summary>
    public static double MeasureFmaRate(double seconds)
    {
        var threads = Environment.ProcessorCount;
        var lanes = Layers.VectorWidth.Wide ? 16 : 8;
        var rates = new double[threads];
        using var barrier = new Barrier(threads);
        FmaLoop(1000); // compile before timing
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            barrier.SignalAndWait();
            var watch = System.Diagnostics.Stopwatch.StartNew();
            long iterations = 0;
            while (watch.Elapsed.TotalSeconds < seconds)
            {
                FmaLoop(1_000_000);
                iterations += 1_000_000;
            }
            rates[t] = iterations * 10.0 * lanes * 2 / watch.Elapsed.TotalSeconds / 1e9;
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        return rates.Sum();
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining | System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static float FmaLoop(long n) => Layers.VectorWidth.Wide ? FmaLoopWide(n) : FmaLoopNarrow(n);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining | System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static float FmaLoopWide(long n)
    {
        var m = Vector512.Create(0.999999f);
        var c = Vector512.Create(1e-7f);
        Vector512<float> a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m;
        for (long i = 0; i < n; i++)
        {
            a0 = Avx512F.FusedMultiplyAdd(a0, m, c); a1 = Avx512F.FusedMultiplyAdd(a1, m, c); a2 = Avx512F.FusedMultiplyAdd(a2, m, c);
            a3 = Avx512F.FusedMultiplyAdd(a3, m, c); a4 = Avx512F.FusedMultiplyAdd(a4, m, c); a5 = Avx512F.FusedMultiplyAdd(a5, m, c);
            a6 = Avx512F.FusedMultiplyAdd(a6, m, c); a7 = Avx512F.FusedMultiplyAdd(a7, m, c); a8 = Avx512F.FusedMultiplyAdd(a8, m, c);
            a9 = Avx512F.FusedMultiplyAdd(a9, m, c);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining | System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static float FmaLoopNarrow(long n)
    {
        var m = Vector256.Create(0.999999f);
        var c = Vector256.Create(1e-7f);
        Vector256<float> a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m;
        for (long i = 0; i < n; i++)
        {
            a0 = Fma.MultiplyAdd(a0, m, c); a1 = Fma.MultiplyAdd(a1, m, c); a2 = Fma.MultiplyAdd(a2, m, c); a3 = Fma.MultiplyAdd(a3, m, c);
            a4 = Fma.MultiplyAdd(a4, m, c); a5 = Fma.MultiplyAdd(a5, m, c); a6 = Fma.MultiplyAdd(a6, m, c); a7 = Fma.MultiplyAdd(a7, m, c);
            a8 = Fma.MultiplyAdd(a8, m, c); a9 = Fma.MultiplyAdd(a9, m, c);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9);
    }

    public override string ToString() =>
        $"{Processor}: {Cores} cores × {SimdLanes} float32 lanes × {FmaUnits} FMA units × 2 × {ClockGHz:0.00} GHz ({ClockSource}) = {NominalGFlops:0.0} GFLOP/s nominal peak; " +
        $"measured FMA peak {MeasuredGFlops:0.0} GFLOP/s (cores at {EffectiveClockGHz:0.00} GHz); percentages below are of {GFlops:0.0} GFLOP/s";
}
