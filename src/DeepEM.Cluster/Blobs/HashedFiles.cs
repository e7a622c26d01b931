using System.Security.Cryptography;

namespace DeepEM.Cluster.Blobs;

/// <summary>A file's bytes as read, and their SHA-256 (lower-case hex), the name campaigns and replicas know it by.</summary>
public sealed record HashedFile(string Path, byte[] Bytes, string Sha256);

/// <summary>
/// Files this process has read, each version read and hashed once: in one <c>deepem pick</c> the command, the campaign
/// spec, the coordinator's copy and the worker's replica all ask for the model file, and all get the one read. A version
/// is the full path, the length and the last write time; a file rewritten since is read again. At most
/// <see cref="Kept"/> versions are kept (models are kilobytes to a few megabytes).
/// </summary>
public static class HashedFiles
{
    public const int Kept = 32;

    private static readonly Dictionary<(string Path, long Length, DateTime Written), HashedFile> Files = [];

    /// <summary>Reads and hashes the file unless this version of it was already; I/O errors as <see cref="File.ReadAllBytes"/> gives them.</summary>
    public static HashedFile Read(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        var info = new FileInfo(full);
        if (!info.Exists) throw new FileNotFoundException($"Could not find file '{full}'.", full);
        var key = (full, info.Length, info.LastWriteTimeUtc);
        lock (Files)
        {
            if (Files.TryGetValue(key, out var known)) return known;
        }
        var bytes = File.ReadAllBytes(full);
        var file = new HashedFile(full, bytes, Sha256Hex(bytes));
        // A file that changed while it was read is not kept under the version seen before.
        if (bytes.LongLength != info.Length || new FileInfo(full).LastWriteTimeUtc != info.LastWriteTimeUtc) return file;
        lock (Files)
        {
            if (Files.Count >= Kept) Files.Clear();
            Files[key] = file;
        }
        return file;
    }

    public static string Sha256Hex(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
