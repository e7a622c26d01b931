using DeepEM.Formats;
using DeepEM.Formats.Relion;

namespace DeepEM.Cli.Infrastructure;

/// <summary>
/// Expands the PATH... arguments of docs/cli.md: files as given, folders to the micrograph (or other
/// matching) files inside them, and glob patterns (<c>*</c>, <c>?</c> in the file-name part) that the shell
/// left unexpanded, and RELION micrograph lists (<c>micrographs.star</c>, <c>micrographs_ctf.star</c>). A path that
/// matches nothing, or a listed micrograph that is not there, is reported as a failed input, not a crash.
/// </summary>
public static class InputPaths
{
    /// <summary>
    /// A PATH... argument takes any token, so an unknown flag would be read as a file name: refuse tokens
    /// that look like flags, as a usage error (exit code 2).
    /// </summary>
    public static T RejectingFlags<T>(this T argument) where T : System.CommandLine.Argument<string[]>
    {
        argument.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
            {
                if (token.Value.StartsWith('-') && !File.Exists(token.Value) && !Directory.Exists(token.Value))
                {
                    result.AddError($"unknown option '{token.Value}'");
                }
            }
        });
        return argument;
    }

    /// <param name="Files">The files as given (relative paths stay relative), names from STAR files as written there.</param>
    /// <param name="FromStarFile">Some came from a RELION micrograph list (micrographs.star).</param>
    public sealed record Expansion(IReadOnlyList<string> Files, IReadOnlyList<BadInputException> Missing, bool FromStarFile = false);

    public static Expansion Expand(IEnumerable<string> arguments, Func<string, bool> accept)
    {
        var files = new List<string>();
        var missing = new List<BadInputException>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var fromStar = false;
        void Add(string f)
        {
            if (seen.Add(Path.GetFullPath(f))) files.Add(f);
        }
        foreach (var arg in arguments)
        {
            if (Directory.Exists(arg))
            {
                var inside = Directory.EnumerateFiles(arg).Where(accept).Order(StringComparer.Ordinal).ToList();
                if (inside.Count == 0)
                {
                    missing.Add(new BadInputException(arg, "folder holds no file of a supported type"));
                }
                inside.ForEach(Add);
            }
            else if (File.Exists(arg) && arg.EndsWith(".star", StringComparison.OrdinalIgnoreCase))
            {
                // A RELION micrograph list: its names are relative to the RELION project folder, where the command runs.
                fromStar = true;
                try
                {
                    var listed = RelionMicrographList.Read(arg);
                    for (var row = 0; row < listed.Count; row++)
                    {
                        var name = listed[row].Name;
                        if (File.Exists(name)) Add(name);
                        else missing.Add(new BadInputException(arg, $"row {row + 1}: micrograph {name}: no such file (names are read from the RELION project folder, here {Directory.GetCurrentDirectory()})"));
                    }
                }
                catch (BadInputException e)
                {
                    missing.Add(e);
                }
            }
            else if (File.Exists(arg))
            {
                Add(arg);
            }
            else if (arg.IndexOfAny(['*', '?']) >= 0)
            {
                var dir = Path.GetDirectoryName(arg);
                dir = string.IsNullOrEmpty(dir) ? "." : dir;
                var pattern = Path.GetFileName(arg);
                var matches = Directory.Exists(dir)
                    ? Directory.EnumerateFiles(dir, pattern).Order(StringComparer.Ordinal).ToList()
                    : [];
                if (matches.Count == 0)
                {
                    missing.Add(new BadInputException(arg, "pattern matches no file"));
                }
                matches.ForEach(Add);
            }
            else
            {
                missing.Add(new BadInputException(arg, "no such file or folder"));
            }
        }
        return new Expansion(files, missing, fromStar);
    }
}
