using DeepEM.Cluster.Protocol;

namespace DeepEM.Cluster.Blobs;

/// <summary>How a coordinator answers a worker's <see cref="FetchBlobChunk"/> from the files it holds (models, training inputs).</summary>
internal static class BlobChunks
{
    /// <summary>At most <paramref name="chunkBytes"/> of the file from the requested offset, or the reason there is none.</summary>
    public static BlobChunk Answer(IBlobStore store, FetchBlobChunk request, int chunkBytes)
    {
        try
        {
            return store.Read(request.Sha256, request.Offset, chunkBytes) is { } c
                ? new BlobChunk(request.Sha256, request.Offset, c.Length, c.Data, "")
                : new BlobChunk(request.Sha256, request.Offset, 0, [], $"the coordinator holds no file {request.Sha256}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new BlobChunk(request.Sha256, request.Offset, 0, [], $"the coordinator cannot read {request.Sha256}: {e.Message}");
        }
    }
}
