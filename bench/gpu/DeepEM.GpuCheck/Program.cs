using System.CommandLine;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.Network;
using DeepEM.Pipeline.Benchmarks;

// deepem-gpu-check: the GPU node check of docs/benchmarks.md (bench/gpu/run.sh runs it). Exit 0 when every check
// passed, 1 when one failed, 2 on a usage error or when the device cannot be had.
var device = new Option<string>("--device") { Description = "gpu (the default), auto, cpu or ilgpu-cpu (tiny sizes: the kernels on the CPU accelerator)", DefaultValueFactory = _ => "gpu" };
var gpu = new Option<int?>("--gpu") { Description = "which GPU, numbered as the CUDA driver numbers them (the first by default)" };
var size = new Option<int?>("--size") { Description = "side of the simulated micrographs (4096 on a GPU)" };
var micrographs = new Option<int?>("--micrographs") { Description = "files of the end-to-end run (96 on a GPU)" };
var presets = new Option<string[]?>("--preset") { Description = "presets of the checks and the dense timing (deepem-48 and paper-klh on a GPU)", AllowMultipleArgumentsPerToken = true };
var work = new Option<string?>("--work") { Description = "folder for the simulated micrographs and the picks (kept between runs)" };
var root = new RootCommand("The GPU node check: device against CPU, dense scoring, training, end to end.") { device, gpu, size, micrographs, presets, work };
root.SetAction(parse =>
{
    DeviceChoice choice;
    try
    {
        choice = BackendFactory.Parse(parse.GetValue(device)!);
        foreach (var p in parse.GetValue(presets) ?? []) Presets.Create(p);
    }
    catch (ArgumentException e)
    {
        Console.Error.WriteLine($"deepem-gpu-check: {e.Message}");
        return 2;
    }
    // The end-to-end model is deepem-48 at 45 px on micrographs binned 4×: smaller micrographs hold no box to pick.
    if (parse.GetValue(size) is < 200 or > 16384)
    {
        Console.Error.WriteLine($"deepem-gpu-check: --size {parse.GetValue(size)}: 200 to 16384 px (a micrograph binned 4× must hold a 45 px box)");
        return 2;
    }
    if (parse.GetValue(micrographs) is < 1)
    {
        Console.Error.WriteLine($"deepem-gpu-check: --micrographs {parse.GetValue(micrographs)}: at least 1");
        return 2;
    }
    var settings = DeviceBenchSettings.For(choice) with { Gpu = parse.GetValue(gpu) };
    if (parse.GetValue(size) is { } s) settings = settings with { MicrographSize = s };
    if (parse.GetValue(micrographs) is { } m) settings = settings with { Micrographs = m };
    if (parse.GetValue(presets) is { Length: > 0 } ps) settings = settings with { Presets = ps };
    if (parse.GetValue(work) is { } w) settings = settings with { WorkDirectory = w };
    try
    {
        return DeviceBenchmark.Run(settings, Console.Out) ? 0 : 1;
    }
    catch (InvalidOperationException e)
    {
        Console.Error.WriteLine($"deepem-gpu-check: {e.Message}");
        return 2;
    }
});
return root.Parse(args).Invoke();
