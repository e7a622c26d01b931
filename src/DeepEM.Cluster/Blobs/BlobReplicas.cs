using System.Collections.Concurrent;
using Akka.Actor;
using DeepEM.Cluster.Protocol;

namespace DeepEM.Cluster.Blobs;

/// <summary>
/// A node's copies of blobs (campaign models; a gradient worker's training inputs), by SHA-256 of the file's bytes: each
/// is obtained once per node and then shared by all its slots. A blob comes from its path when this node can read it and
/// the bytes hash to the campaign's SHA-256 (a shared file system); otherwise from the coordinator, in chunks of
/// at most 1 MiB (remoting drops larger messages with only a log line). The bytes are checked by hash either way.
/// </summary>
internal sealed class BlobReplicas(IActorRef coordinator, TimeSpan askTimeout)
{
    private readonly ConcurrentDictionary<string, Lazy<Task<byte[]>>> _blobs = new(StringComparer.Ordinal);

    /// <summary>How the last blob arrived: "path" or "N chunks" (for the node's log and the tests).</summary>
    public ConcurrentDictionary<string, string> Sources { get; } = new(StringComparer.Ordinal);

    public Task<byte[]> GetAsync(string sha256, string path, long length)
    {
        var entry = _blobs.GetOrAdd(sha256, _ => new Lazy<Task<byte[]>>(() => ObtainAsync(sha256, path, length)));
        if (!entry.Value.IsFaulted) return entry.Value;
        // A fetch that failed earlier (the coordinator was moving, say) is not handed out again: this task tries anew.
        _blobs.TryRemove(new KeyValuePair<string, Lazy<Task<byte[]>>>(sha256, entry));
        return _blobs.GetOrAdd(sha256, _ => new Lazy<Task<byte[]>>(() => ObtainAsync(sha256, path, length))).Value;
    }

    private async Task<byte[]> ObtainAsync(string sha256, string path, long length)
    {
        try
        {
            if (File.Exists(path))
            {
                // In the process that submitted the campaign (the embedded pick) this is the read the spec already made.
                var file = await Task.Run(() => HashedFiles.Read(path));
                if (file.Sha256 == sha256)
                {
                    Sources[sha256] = "path";
                    return file.Bytes;
                }
            }
        }
        catch (IOException)
        {
            // Not readable here: fetch it from the coordinator.
        }
        catch (UnauthorizedAccessException)
        {
        }
        var buffer = new MemoryStream();
        var chunks = 0;
        while (buffer.Length < length || chunks == 0)
        {
            var chunk = await coordinator.Ask<BlobChunk>(new FetchBlobChunk(sha256, buffer.Length), askTimeout);
            if (chunk.Error.Length > 0) throw new InvalidOperationException(chunk.Error);
            if (chunk.Data.Length == 0 || chunk.Offset != buffer.Length) throw new InvalidOperationException($"blob {sha256}: chunk at {chunk.Offset} of {chunk.TotalLength} bytes is empty or out of place");
            buffer.Write(chunk.Data);
            chunks++;
            length = chunk.TotalLength;
        }
        var blob = buffer.ToArray();
        var actual = HashedFiles.Sha256Hex(blob);
        if (actual != sha256) throw new InvalidOperationException($"blob {sha256}: the fetched bytes hash to {actual}");
        Sources[sha256] = $"{chunks} chunks";
        return blob;
    }
}
