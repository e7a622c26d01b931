using DeepEM.Cluster.Blobs;
using DeepEM.Cluster.Models;
using DeepEM.Numerics.ModelFile;

namespace DeepEM.Cluster.Storage;

/// <summary>
/// The campaign coordinator's model copies, <c>STATE/models/SHA256.deepem</c>: a <see cref="FolderBlobStore"/> that
/// takes only files that parse as models.
/// </summary>
internal sealed class FolderModelStore : IBlobStore
{
    private readonly FolderBlobStore _files;

    public FolderModelStore(string folder)
    {
        _files = new FolderBlobStore(folder, ".deepem", (bytes, sha256, path) =>
        {
            try
            {
                ParsedModels.Get(sha256, bytes, path);
            }
            catch (InvalidModelException e)
            {
                throw new ArgumentException(e.Message);
            }
        });
    }

    public void Register(string path, string sha256) => _files.Register(path, sha256);

    public (byte[] Data, long Length)? Read(string sha256, long offset, int count) => _files.Read(sha256, offset, count);
}
