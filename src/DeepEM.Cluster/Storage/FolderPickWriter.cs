using System.Collections.Concurrent;
using System.Threading.Channels;
using DeepEM.Cluster.Picking;
using DeepEM.Cluster.Protocol;
using DeepEM.Formats.Coordinates;
using DeepEM.Pipeline.Picking;

namespace DeepEM.Cluster.Storage;

/// <summary>
/// A worker node's writer of picks: NAME.star (last, so its presence means done), NAME.box and the other requested
/// formats in the campaign's output folder, which every worker reaches at the same path (a shared file system, like the
/// micrographs). Writing here rather than on the coordinator spreads the formatting and the file system work over the
/// workers: one coordinator then records 1,000 micrographs a second. The folder is never listed from here.
/// <para>
/// Each file is flushed to disk before its rename (a micrograph recorded as done must survive a power cut), and a flush
/// blocks its thread for a disk round trip. So the writes run on threads of their own, several at a time, never on the
/// thread pool that runs the actors: the file system can then commit many flushes together.
/// </para>
/// </summary>
internal sealed class FolderPickWriter : IPickWriter
{
    private const int KeptOutputs = 16;
    private readonly ConcurrentDictionary<string, PickOutputs> _outputs = new(StringComparer.Ordinal);

    /// <param name="slots">The node's picking slots: the process gets a writing thread for each (at most 64 in all).</param>
    public FolderPickWriter(int slots) => Writers.Add(slots);

    public Task WriteAsync(PickTask task, PickOutcome outcome)
    {
        var key = $"{task.OutDir}|{outcome.BoxSize}|{string.Join(',', task.Formats)}";
        if (!_outputs.TryGetValue(key, out var outputs))
        {
            // A node serves a few campaigns at a time; over months it must not keep one per campaign it ever served.
            if (_outputs.Count >= KeptOutputs) _outputs.Clear();
            outputs = _outputs.GetOrAdd(key, _ => new PickOutputs(task.OutDir, task.Formats, outcome.BoxSize));
        }
        // PickOutputs refuses names that would lead out of the folder: names come over the network.
        return Writers.Run(() => outputs.Write(task.Micrograph.Name, outcome.Picks.Picks));
    }

    public async Task<IReadOnlyList<Pick>?> WrittenAsync(PickTask task)
    {
        IReadOnlyList<Pick>? written = null;
        // On the writing threads too: a look at the shared file system may block as long as a write.
        await Writers.Run(() => written = PickOutputs.ReadWritten(task.OutDir, task.Micrograph.Name));
        return written;
    }

    /// <summary>The process's writing threads: one for each picking slot of the nodes in this process, at most 64.</summary>
    private static class Writers
    {
        private const int MostThreads = 64;
        private static readonly Channel<(Action Write, TaskCompletionSource Done)> Queue = Channel.CreateUnbounded<(Action, TaskCompletionSource)>();
        private static int _threads;

        public static void Add(int count)
        {
            for (var i = 0; i < count; i++)
            {
                var n = Interlocked.Increment(ref _threads);
                if (n > MostThreads)
                {
                    Interlocked.Decrement(ref _threads);
                    return;
                }
                new Thread(Work) { IsBackground = true, Name = $"deepem-writer-{n}" }.Start();
            }
        }

        public static Task Run(Action write)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Queue.Writer.TryWrite((write, done));
            return done.Task;
        }

        private static void Work()
        {
            var reader = Queue.Reader;
            while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
            {
                while (reader.TryRead(out var item))
                {
                    try
                    {
                        item.Write();
                        item.Done.SetResult();
                    }
                    catch (Exception e)
                    {
                        item.Done.SetException(e);
                    }
                }
            }
        }
    }
}
