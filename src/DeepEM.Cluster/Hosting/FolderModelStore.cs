using System.Collections.Concurrent;
using DeepEM.Cluster.Campaigns;
using DeepEM.Numerics.ModelFile;

namespace DeepEM.Cluster.Hosting;

/// <summary>
/// The campaign coordinator's model copies, <c>STATE/models/SHA256.deepem</c>: a <see cref="FolderBlobStore"/> that
/// takes only files that parse as models, and remembers what it parsed.
/// </summary>
public sealed class FolderModelStore : IModelStore
{
    private readonly ConcurrentDictionary<string, TrainedModel> _parsed = new(StringComparer.Ordinal);
    private readonly FolderBlobStore _files;
    private readonly string _folder;

    public FolderModelStore(string folder)
    {
        _folder = folder;
        _files = new FolderBlobStore(folder, ".deepem", (bytes, path) =>
        {
            try
            {
                _parsed[Models.ModelReplicas.Sha256Hex(bytes)] = TrainedModel.FromBytes(bytes, path);
            }
            catch (InvalidModelException e)
            {
                throw new ArgumentException(e.Message);
            }
        });
    }

    public void Register(string path, string sha256) => _files.Register(path, sha256);

    public (byte[] Data, long Length)? Read(string sha256, long offset, int count) => _files.Read(sha256, offset, count);

    /// <summary>The model's box in pixels of the micrographs as given (for EMAN2 box files).</summary>
    public int BoxSizeOf(string sha256)
    {
        var path = Path.Combine(_folder, sha256 + ".deepem");
        return _parsed.GetOrAdd(sha256, _ => TrainedModel.FromBytes(File.ReadAllBytes(path), path)).Preprocessing.BoxSizeOriginal;
    }
}
