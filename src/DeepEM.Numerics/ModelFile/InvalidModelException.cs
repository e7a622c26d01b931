namespace DeepEM.Numerics.ModelFile;

/// <summary>A model file that cannot be used: the file and what is wrong, in one line.</summary>
public sealed class InvalidModelException(string path, string problem) : Exception($"{path}: {problem}")
{
    public string Path { get; } = path;

    public string Problem { get; } = problem;
}
