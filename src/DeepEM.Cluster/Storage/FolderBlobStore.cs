using DeepEM.Cluster.Blobs;
using DeepEM.Formats.IO;

namespace DeepEM.Cluster.Storage;

/// <summary>
/// Copies of files by content in a coordinator's state folder, <c>FOLDER/SHA256EXTENSION</c>: campaign models
/// (<see cref="FolderModelStore"/>) and training inputs and results (training sets, starting and trained parameters).
/// A file is copied in when it is submitted, so workers that cannot read the submitter's path fetch it from the
/// coordinator in chunks, and a restarted coordinator still has it. <paramref name="check"/> may refuse bytes that
/// are not what the store holds (with an <see cref="ArgumentException"/>; it is given the bytes, their SHA-256 and the
/// path) before anything is written.
/// </summary>
internal sealed class FolderBlobStore(string folder, string extension = "", Action<byte[], string, string>? check = null) : IBlobStore
{
    private string PathOf(string sha256) => Path.Combine(folder, sha256 + extension);

    public void Register(string path, string sha256)
    {
        if (sha256.Length != 64 || !sha256.All(char.IsAsciiHexDigitLower)) throw new ArgumentException($"{path}: '{sha256}' is not a SHA-256");
        if (File.Exists(PathOf(sha256))) return;
        HashedFile file;
        try
        {
            file = HashedFiles.Read(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"{path}: the coordinator cannot read it ({e.Message}); put it where every node can read it");
        }
        if (file.Sha256 != sha256) throw new ArgumentException($"{path}: the file changed since it was submitted (SHA-256 {file.Sha256[..12]}, expected {sha256[..12]})");
        check?.Invoke(file.Bytes, sha256, path);
        Directory.CreateDirectory(folder);
        AtomicFile.WriteAllBytes(PathOf(sha256), file.Bytes);
    }

    public (byte[] Data, long Length)? Read(string sha256, long offset, int count)
    {
        if (sha256.Length != 64 || !sha256.All(char.IsAsciiHexDigitLower)) return null;
        var path = PathOf(sha256);
        if (!File.Exists(path)) return null;
        using var stream = File.OpenRead(path);
        if (offset < 0 || offset > stream.Length) return null;
        stream.Position = offset;
        var data = new byte[(int)Math.Min(count, stream.Length - offset)];
        stream.ReadExactly(data);
        return (data, stream.Length);
    }
}
