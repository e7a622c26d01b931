using System.Text.RegularExpressions;
using DeepEM.Numerics.Backends;
using DeepEM.Pipeline.Benchmarks;

namespace DeepEM.Pipeline.Tests;

/// <summary>
/// The GPU node check (bench/gpu/run.sh) runs here on ILGPU's CPU accelerator, at the smallest sizes it accepts: every
/// check passes, and each table has its numbers, so the script is known to work before a GPU machine is lent for it.
/// </summary>
public class DeviceBenchmarkTests
{
    [Fact]
    public void The_device_check_runs_on_the_cpu_accelerator_and_every_check_passes()
    {
        var work = Path.Combine(Path.GetTempPath(), "deepem-device-check-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var settings = DeviceBenchSettings.For(DeviceChoice.IlgpuCpu) with
            {
                MicrographSize = 200, Micrographs = 2, Repeats = 1, TrainingBatch = 20, CheckSize = 56, WorkDirectory = work,
            };
            var text = new StringWriter();
            var passed = DeviceBenchmark.Run(settings, text);
            var output = text.ToString();
            Assert.True(passed, output);
            Assert.Contains("All checks passed.", output);
            Assert.Matches(new Regex(@"\| dense scores, 56×56 random image \| deepem-48 \| 81 scores \| [0-9.E+-]+ \| 0 \| pass \|"), output);
            Assert.Matches(new Regex(@"\| training gradients, 67 random boxes .* \| deepem-48 \| 5 chunks × 3,529 \| [0-9.E+-]+ \| 0 \| pass \|"), output);
            // Dense timing of the 50² binned image: milliseconds and the steps of the device.
            Assert.Matches(new Regex(@"\| deepem-48 \| [0-9]+\.[0-9]{2} \| .*upload .*stage 1 .*output unit .*download"), output);
            Assert.Matches(new Regex(@"[0-9,]+ boxes/s on the device, [0-9,]+ boxes/s on the managed CPU backend"), output);
            // End to end: two files picked and written, and the device's picks are the CPU's.
            Assert.Equal(2, Directory.GetFiles(Path.Combine(work, "picks"), "*.star").Length);
            Assert.Matches(new Regex(@"Picks of mic_0000: device ([1-9][0-9]*), CPU \1; same coordinates, largest score difference [0-9.E+-]+ \(pass\)"), output);
        }
        finally
        {
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        }
    }
}
