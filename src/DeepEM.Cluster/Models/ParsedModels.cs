using DeepEM.Cluster.Blobs;
using DeepEM.Numerics.ModelFile;

namespace DeepEM.Cluster.Models;

/// <summary>
/// Models this process has parsed, by the SHA-256 of their file's bytes, each parsed (and checked) once: the command
/// that checks the file, the coordinator that refuses a file that is not a model, and each picking lane share it.
/// At most <see cref="HashedFiles.Kept"/> are kept.
/// </summary>
public static class ParsedModels
{
    private static readonly Dictionary<string, TrainedModel> Models = new(StringComparer.Ordinal);

    /// <summary>The model of these bytes; a damaged or incompatible file raises <see cref="InvalidModelException"/> naming <paramref name="name"/>.</summary>
    public static TrainedModel Get(string sha256, byte[] bytes, string name)
    {
        lock (Models)
        {
            if (Models.TryGetValue(sha256, out var known)) return known;
        }
        var model = TrainedModel.FromBytes(bytes, name);
        lock (Models)
        {
            if (Models.Count >= HashedFiles.Kept) Models.Clear();
            Models[sha256] = model;
        }
        return model;
    }

    /// <summary>The model file at <paramref name="path"/>, read, hashed and parsed once per version; errors as <see cref="TrainedModel.Load"/> words them.</summary>
    public static (TrainedModel Model, HashedFile File) Load(string path)
    {
        HashedFile file;
        try
        {
            file = HashedFiles.Read(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidModelException(path, e is FileNotFoundException ? "no such file" : e.Message);
        }
        return (Get(file.Sha256, file.Bytes, path), file);
    }
}
