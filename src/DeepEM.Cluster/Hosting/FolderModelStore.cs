using System.Collections.Concurrent;
using DeepEM.Cluster.Campaigns;
using DeepEM.Cluster.Models;
using DeepEM.Formats.IO;
using DeepEM.Numerics.ModelFile;

namespace DeepEM.Cluster.Hosting;

/// <summary>
/// The coordinator's model copies: <c>STATE/models/SHA256.deepem</c>. A campaign's model is copied in when the
/// campaign is submitted, so workers can fetch it even when they cannot read the submitter's path, and a restarted
/// coordinator still has it.
/// </summary>
public sealed class FolderModelStore(string folder) : IModelStore
{
    private readonly ConcurrentDictionary<string, TrainedModel> _parsed = new(StringComparer.Ordinal);

    private string PathOf(string sha256) => Path.Combine(folder, sha256 + ".deepem");

    public void Register(string path, string sha256)
    {
        if (sha256.Length != 64 || !sha256.All(char.IsAsciiHexDigitLower)) throw new ArgumentException($"{path}: '{sha256}' is not a SHA-256");
        if (File.Exists(PathOf(sha256))) return;
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"{path}: the coordinator cannot read the model ({e.Message}); put it where every node can read it");
        }
        var actual = ModelReplicas.Sha256Hex(bytes);
        if (actual != sha256) throw new ArgumentException($"{path}: the model changed since it was submitted (SHA-256 {actual[..12]}, expected {sha256[..12]})");
        try
        {
            _parsed[sha256] = TrainedModel.FromBytes(bytes, path);
        }
        catch (InvalidModelException e)
        {
            throw new ArgumentException(e.Message);
        }
        Directory.CreateDirectory(folder);
        AtomicFile.WriteAllBytes(PathOf(sha256), bytes);
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

    /// <summary>The model's box in pixels of the micrographs as given (for EMAN2 box files).</summary>
    public int BoxSizeOf(string sha256) =>
        _parsed.GetOrAdd(sha256, s => TrainedModel.FromBytes(File.ReadAllBytes(PathOf(s)), PathOf(s))).Preprocessing.BoxSizeOriginal;
}
