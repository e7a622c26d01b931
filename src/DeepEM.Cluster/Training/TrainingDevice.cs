using DeepEM.Numerics.Backends;
using DeepEM.Numerics.Network;

namespace DeepEM.Cluster.Training;

/// <summary>Where a node trains a job: its own device, except what only the managed backend can train.</summary>
internal static class TrainingDevice
{
    /// <summary>
    /// Batch normalisation trains on the managed backend only (<see cref="BackendFactory"/>): a node whose device is a GPU
    /// (or ILGPU's CPU accelerator) trains such a job on its CPU, rather than refusing every slice of it. Every node's
    /// managed backend gives the same bytes, so the weights are still those of one process.
    /// </summary>
    public static DeviceChoice For(NetworkArchitecture architecture, DeviceChoice device) =>
        architecture.BatchNorm && device is DeviceChoice.Gpu or DeviceChoice.IlgpuCpu ? DeviceChoice.Cpu : device;
}
