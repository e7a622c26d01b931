using System.Collections.Concurrent;
using DeepEM.Cluster.Picking;
using DeepEM.Cluster.Protocol;
using DeepEM.Formats.Coordinates;
using DeepEM.Pipeline.Picking;

namespace DeepEM.Cluster.Hosting;

/// <summary>
/// A worker node's writer of picks: NAME.star (last, so its presence means done), NAME.box and the other requested
/// formats in the campaign's output folder, which every worker reaches at the same path (a shared file system, like the
/// micrographs). Writing here rather than on the coordinator spreads the formatting and the file system work over the
/// workers: one coordinator then records 1,000 micrographs a second. The folder is never listed from here.
/// </summary>
public sealed class FolderPickWriter : IPickWriter
{
    private const int KeptOutputs = 16;
    private readonly ConcurrentDictionary<string, PickOutputs> _outputs = new(StringComparer.Ordinal);

    public void Write(PickTask task, PickOutcome outcome)
    {
        var key = $"{task.OutDir}|{outcome.BoxSize}|{string.Join(',', task.Settings.Formats)}";
        if (!_outputs.TryGetValue(key, out var outputs))
        {
            // A node serves a few campaigns at a time; over months it must not keep one per campaign it ever served.
            if (_outputs.Count >= KeptOutputs) _outputs.Clear();
            outputs = _outputs.GetOrAdd(key, _ => new PickOutputs(task.OutDir, ParseFormats(task.Settings.Formats), outcome.BoxSize));
        }
        // PickOutputs refuses names with separators or "..": names come over the network and must stay inside the folder.
        outputs.Write(task.Micrograph.Name, outcome.Picks.Picks);
    }

    /// <summary>The formats of a campaign's settings ("star", "box", "topaz", "csv").</summary>
    public static IReadOnlyList<CoordinateFormat> ParseFormats(IEnumerable<string> names) =>
        names.Select(n => Enum.Parse<CoordinateFormat>(n, ignoreCase: true)).ToList();
}
