namespace DeepEM.Cluster.Protocol;

/// <summary>
/// Names that arrive in messages (micrograph names, training ids) and become file names on a coordinator's disk.
/// Anyone who can reach the cluster can send them, so each is checked where it comes in: a name that could lead out
/// of its folder is refused with a line that says so, before anything is written.
/// </summary>
internal static class NetworkNames
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

    private static string Printable(string name) =>
        new(name.Take(80).Select(c => char.IsControl(c) ? '?' : c).ToArray());
}
