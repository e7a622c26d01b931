namespace DeepEM.Cluster.Protocol;

/// <summary>
/// Names that arrive in messages (micrograph names, training ids) and become file names on a coordinator's disk.
/// Anyone who can reach the cluster can send them, so each is checked where it comes in: a name that could lead out
/// of its folder is refused with a line that says so, before anything is written.
/// </summary>
public static class NetworkNames
{
    /// <summary>Refuses (ArgumentException) an empty name, ".", "..", a name with a path separator or a control
    /// character, or one longer than a file name may be.</summary>
    public static void CheckFileName(string what, string name)
    {
        if (name.Length is 0 or > 200 || name is "." or ".." || name.Any(c => c is '/' or '\\' || char.IsControl(c)))
        {
            throw new ArgumentException($"{what} '{Printable(name)}' cannot be a file name in the output folder (empty, too long, '.', '..', a path separator or a control character)");
        }
    }

    /// <summary>
    /// A relative path inside the output folder (a micrograph named by its path, Micrographs/x): parts separated by '/',
    /// each a file name as <see cref="CheckFileName"/> has it and not hidden (a leading '.'), at most 1,000 characters.
    /// </summary>
    public static void CheckRelativePath(string what, string name)
    {
        var parts = name.Split('/');
        if (name.Length > 1000 || parts.Any(p => p.Length is 0 or > 200 || p is "." or ".." || p.StartsWith('.') || p.Any(c => c == '\\' || char.IsControl(c))))
        {
            throw new ArgumentException($"{what} '{Printable(name)}' cannot be a path in the output folder (empty parts, '.', '..', a hidden part, a backslash, a control character, or too long)");
        }
    }

    private static string Printable(string name) =>
        new(name.Take(80).Select(c => char.IsControl(c) ? '?' : c).ToArray());
}
