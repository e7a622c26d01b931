using DeepEM.Cluster.Blobs;
using DeepEM.Cluster.Protocol;
using DeepEM.Cluster.Serialization;
using DeepEM.Cluster.Training;
using DeepEM.Formats.IO;
using DeepEM.Numerics.Training;

namespace DeepEM.Cluster.Storage;

/// <summary>
/// The training coordinator's files in its state folder: the inputs by content in <c>blobs/</c>
/// (<see cref="FolderBlobStore"/>), checkpoints as <c>JOB-STEP.ckpt</c> (protobuf, through the cluster's serializer)
/// and results as <c>JOB.parameters</c> (float32), each also kept by content so that it can be fetched in chunks of
/// <paramref name="chunkBytes"/>.
/// </summary>
internal sealed class FolderTrainingStore(string folder, int chunkBytes) : ITrainingStore
{
    private readonly FolderBlobStore _blobs = new(Path.Combine(folder, "blobs"));

    public void KeepInputs(TrainingSpec spec)
    {
        _blobs.Register(spec.TrainingSet.Path, spec.TrainingSet.Sha256);
        if (spec.InitialParameters is { } init) _blobs.Register(init.Path, init.Sha256);
    }

    public (BoxSet Data, float[]? InitialParameters) ReadInputs(TrainingSpec spec) => (
        BoxSetFile.FromBytes(ReadBlob(spec.TrainingSet), spec.TrainingSet.Path),
        spec.InitialParameters is { } i ? FloatBytes.FromBytes(ReadBlob(i), i.Path) : null);

    private byte[] ReadBlob(BlobRef blob) =>
        (_blobs.Read(blob.Sha256, 0, int.MaxValue) ?? throw new IOException($"the coordinator holds no copy of {blob.Path} ({blob.Sha256[..12]})")).Data;

    public TrainingCheckpoint ReadCheckpoint(BlobRef checkpoint) =>
        ClusterMessageSerializer.CheckpointFromBytes(File.ReadAllBytes(checkpoint.Path)).Checkpoint;

    public BlobRef WriteCheckpoint(CheckpointFile checkpoint, long step) =>
        Write($"{checkpoint.JobId}-{step:D8}.ckpt", ClusterMessageSerializer.CheckpointToBytes(checkpoint), keep: false);

    public BlobRef WriteResult(string jobId, float[] parameters) => Write($"{jobId}.parameters", FloatBytes.ToBytes(parameters), keep: true);

    private BlobRef Write(string name, byte[] bytes, bool keep)
    {
        var path = Path.Combine(folder, name);
        Directory.CreateDirectory(folder);
        AtomicFile.WriteAllBytes(path, bytes);
        var sha = HashedFiles.Sha256Hex(bytes);
        if (keep) _blobs.Register(path, sha);
        return new BlobRef(sha, path, bytes.Length);
    }

    public void Delete(BlobRef file) => File.Delete(file.Path);

    public BlobChunk Serve(FetchBlobChunk request) => BlobChunks.Answer(_blobs, request, chunkBytes);
}
