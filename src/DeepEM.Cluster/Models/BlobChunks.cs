using DeepEM.Cluster.Protocol;

namespace DeepEM.Cluster.Models;

/// <summary>How a coordinator answers a worker's <see cref="FetchModelChunk"/> from the files it holds (models, training inputs).</summary>
internal static class BlobChunks
{
    /// <summary>At most <paramref name="chunkBytes"/> of the file from the requested offset, or the reason there is none.</summary>
    public static ModelChunk Answer(IBlobStore store, FetchModelChunk request, int chunkBytes)
    {
        try
        {
            return store.Read(request.ModelSha256, request.Offset, chunkBytes) is { } c
                ? new ModelChunk(request.ModelSha256, request.Offset, c.Length, c.Data, "")
                : new ModelChunk(request.ModelSha256, request.Offset, 0, [], $"the coordinator holds no file {request.ModelSha256}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new ModelChunk(request.ModelSha256, request.Offset, 0, [], $"the coordinator cannot read {request.ModelSha256}: {e.Message}");
        }
    }
}
