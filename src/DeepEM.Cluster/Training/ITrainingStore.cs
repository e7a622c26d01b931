using DeepEM.Cluster.Protocol;
using DeepEM.Numerics.Training;

namespace DeepEM.Cluster.Training;

/// <summary>
/// Where the training coordinator keeps its files: copies of each training's inputs (so that workers that cannot read
/// the submitter's paths fetch them, and a restarted coordinator still has them), checkpoints and results. The host
/// implements it (<see cref="Storage.FolderTrainingStore"/>); the coordinator calls it only off its own thread. Every
/// write is whole or absent. Failures are <see cref="ArgumentException"/> or <see cref="IOException"/> with one line.
/// </summary>
internal interface ITrainingStore
{
    /// <summary>Copies the training set and the starting parameters in; throws when they are unreadable or changed.</summary>
    void KeepInputs(TrainingSpec spec);

    /// <summary>The training set and the starting parameters (null when the spec has none), from the copies.</summary>
    (BoxSet Data, float[]? InitialParameters) ReadInputs(TrainingSpec spec);

    TrainingCheckpoint ReadCheckpoint(BlobRef checkpoint);

    /// <summary>Writes the checkpoint of <paramref name="step"/>; what the journal entry will name.</summary>
    BlobRef WriteCheckpoint(CheckpointFile checkpoint, long step);

    /// <summary>Writes the trained parameters where workers and clients can fetch them.</summary>
    BlobRef WriteResult(string jobId, float[] parameters);

    /// <summary>Deletes a checkpoint no longer needed.</summary>
    void Delete(BlobRef file);

    /// <summary>A chunk of a file this store holds, for a worker or a client that fetches it.</summary>
    BlobChunk Serve(FetchBlobChunk request);
}
