using DeepEM.Cluster.Models;
using DeepEM.Cluster.Picking;
using DeepEM.Cluster.Protocol;
using DeepEM.Formats;
using DeepEM.Formats.Coordinates;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.ModelFile;
using DeepEM.Pipeline.Picking;
using DeepEM.Pipeline.Preparation;

namespace DeepEM.Cluster.Hosting;

/// <summary>
/// A worker node's picking engine: the pipeline's <see cref="MicrographPicker"/> on this node's device. Reading
/// and binning a micrograph happen outside the device lock, so with two slots a node reads the next micrograph
/// while it computes the current one; the computing itself is one at a time (the picker already uses every core,
/// or the GPU).
/// </summary>
public sealed class PipelineMicrographPicking(ModelReplicas replicas, DeviceChoice device) : IMicrographPicking, IDisposable
{
    private readonly SemaphoreSlim _device = new(1, 1);
    private readonly Dictionary<string, TrainedModel> _models = new(StringComparer.Ordinal);
    private (string Key, MicrographPicker Picker)? _picker;

    public async Task<PickOutcome> PickAsync(PickTask task, string node, CancellationToken cancel)
    {
        var bytes = await replicas.GetAsync(task.ModelSha256, task.ModelPath, task.ModelLength);
        var model = Model(task.ModelSha256, bytes);
        PreparedMicrograph micrograph;
        try
        {
            micrograph = await Task.Run(() => PreparedMicrograph.Load(task.Micrograph.Path, model.Preprocessing.Binning), cancel);
        }
        catch (BadInputException e)
        {
            throw new BadMicrographException(e.Problem, e);
        }
        await _device.WaitAsync(cancel);
        try
        {
            var picker = Picker(task, model);
            var result = await Task.Run(() => picker.Pick(micrograph), cancel);
            return new PickOutcome(result, model.Preprocessing.BoxSizeOriginal);
        }
        finally
        {
            _device.Release();
        }
    }

    private TrainedModel Model(string sha256, byte[] bytes)
    {
        lock (_models)
        {
            if (!_models.TryGetValue(sha256, out var model))
            {
                _models[sha256] = model = TrainedModel.FromBytes(bytes, $"model {sha256[..12]}");
            }
            return model;
        }
    }

    /// <summary>The picker for this model and these settings (called under the device lock); built once per campaign.</summary>
    private MicrographPicker Picker(PickTask task, TrainedModel model)
    {
        var key = task.ModelSha256 + "|" + Describe(task.Settings);
        if (_picker is { } current && current.Key == key) return current.Picker;
        _picker?.Picker.Dispose();
        var picker = new MicrographPicker(model, ToOptions(task.Settings, device));
        _picker = (key, picker);
        return picker;
    }

    private static string Describe(PickSettings s) =>
        $"{s.Threshold}|{s.Step}|{s.Distance}|{s.KeepEdges}|{s.StdFilter}|{s.StdMin}|{s.StdMax}|{s.Naive}";

    public static PickingOptions ToOptions(PickSettings s, DeviceChoice device) => new()
    {
        Threshold = s.Threshold,
        Step = s.Step,
        Distance = s.Distance,
        Edge = s.KeepEdges ? EdgeMode.Keep : EdgeMode.Drop,
        StdFilter = s.StdFilter,
        StdRange = s.StdMin is { } lo && s.StdMax is { } hi ? (lo, hi) : null,
        Naive = s.Naive,
        Formats = FolderPickWriter.ParseFormats(s.Formats),
        Device = device,
    };

    public static PickSettings FromOptions(PickingOptions o) => new()
    {
        Threshold = o.Threshold,
        Step = o.Step,
        Distance = o.Distance,
        KeepEdges = o.Edge == EdgeMode.Keep,
        StdFilter = o.StdFilter,
        StdMin = o.StdRange?.Min,
        StdMax = o.StdRange?.Max,
        Naive = o.Naive,
        Formats = o.Formats.Select(f => f.ToString().ToLowerInvariant()).ToList(),
    };

    /// <summary>Waits (a while) for a pick still running, so its backend is not freed under it; the lock stays taken.</summary>
    public void Dispose()
    {
        if (_device.Wait(TimeSpan.FromMinutes(1))) _picker?.Picker.Dispose();
    }
}
