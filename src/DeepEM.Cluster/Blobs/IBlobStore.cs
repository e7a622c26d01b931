namespace DeepEM.Cluster.Blobs;

/// <summary>
/// A coordinator's copies of files by SHA-256 (campaign models, training sets, starting and trained parameters), so
/// that a worker that cannot read the submitter's path fetches them in chunks (<see cref="BlobChunks"/>), and a
/// restarted coordinator still has them.
/// </summary>
internal interface IBlobStore
{
    /// <summary>Keeps a copy of the file at <paramref name="path"/>; throws <see cref="ArgumentException"/> when it is unreadable, its hash differs or the store refuses it.</summary>
    void Register(string path, string sha256);

    /// <summary>Up to <paramref name="count"/> bytes from <paramref name="offset"/>, and the file's length; null when this store does not hold it.</summary>
    (byte[] Data, long Length)? Read(string sha256, long offset, int count);
}
