using DeepEM.Cluster.Blobs;
using DeepEM.Cluster.Models;
using DeepEM.Cluster.Picking;
using DeepEM.Cluster.Protocol;
using DeepEM.Formats;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.ModelFile;
using DeepEM.Pipeline.Picking;
using DeepEM.Pipeline.Preparation;

namespace DeepEM.Cluster.Nodes;

/// <summary>
/// A worker node's picking engine: the pipeline's <see cref="MicrographPicker"/> on this node's device, one picker per
/// lane. A lane is a GPU (one per GPU of the node), or on the CPU one per slot. Reading and binning a micrograph happen
/// outside the lanes, so with two slots per GPU a node reads the next micrograph while the GPU computes the current one;
/// each lane computes one micrograph at a time, and a micrograph takes whichever lane is free. On the CPU every slot
/// computes at once: one micrograph's steps on one core (finding its maxima, filtering, its rotations' last band) then
/// overlap the other's scoring, where one CPU lane left a core idle for them (30 real micrographs: 0.94 of the time).
/// </summary>
internal sealed class PipelineMicrographPicking : IMicrographPicking, IDisposable
{
    private readonly BlobReplicas _replicas;
    private readonly DeviceChoice _device;
    private readonly SemaphoreSlim _free;
    private readonly System.Collections.Concurrent.ConcurrentQueue<Lane> _freeLanes;
    private readonly Lane[] _lanes;
    // The pick started before the node (PickAhead), until a task takes it.
    private AheadPicking? _ahead;

    /// <param name="gpus">One lane per GPU number; null: one lane on <paramref name="device"/>'s first device, or
    /// <paramref name="cpuLanes"/> where that is the CPU.</param>
    /// <param name="cpuLanes">Lanes when the micrographs are computed on the CPU: the node's slots, so that each computes.</param>
    /// <param name="ahead">A pick started for the first lane (<see cref="AheadPicking.Start"/>, on that lane's GPU): the lane
    /// is taken until it is done, and then keeps its picker.</param>
    public PipelineMicrographPicking(BlobReplicas replicas, DeviceChoice device, IReadOnlyList<int>? gpus = null, AheadPicking? ahead = null, int cpuLanes = 1)
    {
        _replicas = replicas;
        _device = device;
        _lanes = gpus is { Count: > 0 } ? gpus.Select(g => new Lane(g)).ToArray()
            : Enumerable.Range(0, ComputesOnCpu(device) ? Math.Max(1, cpuLanes) : 1).Select(_ => new Lane(null)).ToArray();
        _free = new SemaphoreSlim(_lanes.Length, _lanes.Length);
        _freeLanes = new(_lanes);
        if (ahead is null) return;
        _ahead = ahead;
        _free.Wait();
        _freeLanes.TryDequeue(out var first);
        ahead.Done.ContinueWith(t =>
        {
            try
            {
                if (t.IsCompletedSuccessfully && t.Result.Picker is { } picker) first!.Picker = ((ahead.Request.ModelSha256, ahead.Request.Settings), picker);
            }
            finally
            {
                // Whatever the pick came to (out of memory included), the lane is free again.
                _freeLanes.Enqueue(first!);
                _free.Release();
            }
        }, TaskContinuationOptions.ExecuteSynchronously);
    }

    public int Lanes => _lanes.Length;

    /// <summary>
    /// Whether pickers on <paramref name="device"/> compute on the CPU: asked for, or chosen automatically where ILGPU finds
    /// no GPU (BackendFactory's choice; without a driver library it is not even asked).
    /// </summary>
    private static bool ComputesOnCpu(DeviceChoice device) =>
        device == DeviceChoice.Cpu || (device == DeviceChoice.Auto && Numerics.Backends.Ilgpu.IlgpuBackend.GpuNames().Count == 0);

    private sealed class Lane(int? gpu)
    {
        public int? Gpu { get; } = gpu;
        public ((string Model, PickSettings Settings) Key, MicrographPicker Picker)? Picker { get; set; }
    }

    public async Task<PickOutcome> PickAsync(PickTask task, string node, CancellationToken cancel)
    {
        var bytes = await _replicas.GetAsync(task.ModelSha256, task.ModelPath, task.ModelLength);
        var model = ParsedModels.Get(task.ModelSha256, bytes, $"model {task.ModelSha256[..12]}");
        if (_ahead is { } ahead && ahead.Serves(task.ModelSha256, task.Settings, task.Micrograph.Path)
            && Interlocked.CompareExchange(ref _ahead, null, ahead) == ahead)
        {
            var done = await ahead.Done.WaitAsync(cancel);
            done.Error?.Throw();
            return new PickOutcome(done.Picks!, model.Preprocessing.BoxSizeOriginal) { Ahead = true };
        }
        var micrograph = await Task.Run(() => Load(task.Micrograph.Path, model.Preprocessing.Binning), cancel);
        await _free.WaitAsync(cancel);
        _freeLanes.TryDequeue(out var lane);
        try
        {
            var picker = Picker(lane!, task, model);
            var result = await Task.Run(() => picker.Pick(micrograph), cancel);
            return new PickOutcome(result, model.Preprocessing.BoxSizeOriginal);
        }
        finally
        {
            _freeLanes.Enqueue(lane!);
            _free.Release();
        }
    }

    /// <summary>Reads, bins and normalises a micrograph; an unusable one is a <see cref="BadMicrographException"/>.</summary>
    internal static PreparedMicrograph Load(string path, int binning)
    {
        try
        {
            return PreparedMicrograph.Load(path, binning);
        }
        catch (BadInputException e)
        {
            throw new BadMicrographException(e.Problem, e);
        }
    }

    /// <summary>The lane's picker for this model and these settings (the lane is held); built once per campaign.</summary>
    private MicrographPicker Picker(Lane lane, PickTask task, TrainedModel model)
    {
        var key = (task.ModelSha256, task.Settings);
        if (lane.Picker is { } current && current.Key.Equals(key)) return current.Picker;
        lane.Picker?.Picker.Dispose();
        var picker = new MicrographPicker(model, task.Settings, _device, lane.Gpu);
        lane.Picker = (key, picker);
        return picker;
    }

    /// <summary>Waits (a while) for picks still running, so that no backend is freed under one; the lanes stay taken.</summary>
    public void Dispose()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        for (var i = 0; i < _lanes.Length; i++)
        {
            if (!_free.Wait(Max(deadline - DateTime.UtcNow, TimeSpan.Zero))) return;
        }
        foreach (var lane in _lanes) lane.Picker?.Picker.Dispose();
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
