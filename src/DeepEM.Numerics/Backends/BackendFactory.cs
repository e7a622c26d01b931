using DeepEM.Numerics.Backends.Ilgpu;
using DeepEM.Numerics.Backends.Managed;
using DeepEM.Numerics.Network;

namespace DeepEM.Numerics.Backends;

/// <summary>Which device computes: chosen automatically, or forced from the command line (--device).</summary>
public enum DeviceChoice
{
    /// <summary>A CUDA or OpenCL GPU through ILGPU when there is one, else the managed CPU backend.</summary>
    Auto,
    /// <summary>The managed CPU backend (AVX2/FMA, all cores).</summary>
    Cpu,
    /// <summary>A GPU through ILGPU; an error when there is none.</summary>
    Gpu,
    /// <summary>The ILGPU kernels on ILGPU's CPU accelerator: slow, for checking the GPU path without a GPU.</summary>
    IlgpuCpu,
}

public static class BackendFactory
{
    public static DeviceChoice Parse(string text) => text.ToLowerInvariant() switch
    {
        "auto" => DeviceChoice.Auto,
        "cpu" => DeviceChoice.Cpu,
        "gpu" => DeviceChoice.Gpu,
        "ilgpu-cpu" => DeviceChoice.IlgpuCpu,
        _ => throw new ArgumentException($"unknown device '{text}' (auto, cpu, gpu, ilgpu-cpu)"),
    };

    /// <param name="gpu">Which GPU (<see cref="IlgpuBackend.GpuNames"/>) for <see cref="DeviceChoice.Gpu"/> and <see cref="DeviceChoice.Auto"/>; the first when null.</param>
    /// <remarks>
    /// A network with batch normalisation trains on the managed backend only (the ILGPU kernels have no batch
    /// statistics); its folded model is a plain network and picks on any device.
    /// </remarks>
    public static IComputeBackend Create(NetworkArchitecture architecture, DeviceChoice choice, int? gpu = null) => choice switch
    {
        _ when architecture.BatchNorm && choice is DeviceChoice.Auto or DeviceChoice.Cpu => new ManagedBackend(architecture),
        _ when architecture.BatchNorm => throw new ArgumentException(
            $"{architecture.Preset} (batch normalisation) trains on the CPU backend only: --device cpu or auto; its model picks on any device"),
        DeviceChoice.Cpu => new ManagedBackend(architecture),
        DeviceChoice.IlgpuCpu => IlgpuBackend.CreateCpu(architecture),
        DeviceChoice.Gpu => IlgpuBackend.TryCreateGpu(architecture, gpu)
                            ?? throw new InvalidOperationException(gpu is { } i ? $"--device gpu: there is no GPU {i} (GPUs: {IlgpuBackend.GpuNames().Count})" : "--device gpu: no CUDA or OpenCL device was found"),
        _ => (IComputeBackend?)IlgpuBackend.TryCreateGpu(architecture, gpu) ?? new ManagedBackend(architecture),
    };
}
