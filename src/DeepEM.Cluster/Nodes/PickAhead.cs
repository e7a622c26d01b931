using System.Runtime.ExceptionServices;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.ModelFile;
using DeepEM.Pipeline.Picking;
using DeepEM.Pipeline.Preparation;

namespace DeepEM.Cluster.Nodes;

/// <summary>
/// A micrograph a node's first picking lane may pick before any task names it: the first of an embedded <c>pick</c>,
/// whose model, settings and micrographs are known before the one-node cluster has formed. Forming it (the transport,
/// the singletons, recovering the journal) is most of a second in which the cores are half idle; the micrograph is read,
/// scored and its picks kept meanwhile. The task that names it later (the same model, settings and file, unchanged) takes
/// those picks instead of picking again; any other task is picked as ever. Nothing is written ahead: the picks reach the
/// output folder through the slot that gets the task, so a run cut short has written nothing more than before.
/// </summary>
/// <param name="ModelSha256">The model file's hash, as the campaign's tasks carry it.</param>
/// <param name="MicrographPath">The micrograph's absolute path, as the campaign's tasks carry it.</param>
public sealed record PickAhead(string ModelSha256, TrainedModel Model, PickSettings Settings, string MicrographPath);

/// <summary>
/// A <see cref="PickAhead"/> under way: picked on its own picker (for the lane it was meant for, which takes the picker
/// over when done), off the caller's thread, started before the node's actor system.
/// </summary>
internal sealed class AheadPicking
{
    /// <summary>What the ahead pick came to: its picker (null where building it failed) and its picks or its error.</summary>
    internal sealed record Outcome(MicrographPicker? Picker, MicrographPicks? Picks, ExceptionDispatchInfo? Error);

    private AheadPicking(PickAhead request, FileStamp? stamp, Task<Outcome> done)
    {
        Request = request;
        Stamp = stamp;
        Done = done;
    }

    public PickAhead Request { get; }

    /// <summary>The file as it was when the pick started: a task finds it changed and picks again.</summary>
    private FileStamp? Stamp { get; }

    public Task<Outcome> Done { get; }

    public static AheadPicking Start(PickAhead request, DeviceChoice device, int? gpu)
    {
        var stamp = FileStamp.Of(request.MicrographPath);
        var done = Task.Run(() =>
        {
            MicrographPicker? picker = null;
            try
            {
                picker = new MicrographPicker(request.Model, request.Settings, device, gpu);
                var micrograph = PipelineMicrographPicking.Load(request.MicrographPath, request.Model.Preprocessing.Binning);
                return new Outcome(picker, picker.Pick(micrograph), null);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                return new Outcome(picker, null, ExceptionDispatchInfo.Capture(e));
            }
        });
        return new AheadPicking(request, stamp, done);
    }

    /// <summary>Whether the task asks for this pick: the same model, settings and file, and the file unchanged since.</summary>
    public bool Serves(string modelSha256, PickSettings settings, string micrographPath) =>
        modelSha256 == Request.ModelSha256 && settings == Request.Settings && micrographPath == Request.MicrographPath
        && FileStamp.Of(micrographPath) == Stamp;

    /// <summary>A file's length and last write: what tells that it was replaced or rewritten.</summary>
    private sealed record FileStamp(long Length, DateTime WrittenUtc)
    {
        public static FileStamp? Of(string path)
        {
            try
            {
                var info = new FileInfo(path);
                return info.Exists ? new FileStamp(info.Length, info.LastWriteTimeUtc) : null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                return null;
            }
        }
    }
}
