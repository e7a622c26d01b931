namespace DeepEM.Formats;

/// <summary>
/// A file that cannot be used, with the one line that tells the user which file and what is wrong.
/// The command line prints it as <c>deepem: error: FILE: PROBLEM</c> and carries on with the other inputs.
/// </summary>
public sealed class BadInputException(string path, string problem, Exception? inner = null)
    : Exception($"{path}: {problem}", inner)
{
    public string Path { get; } = path;

    public string Problem { get; } = problem;
}
