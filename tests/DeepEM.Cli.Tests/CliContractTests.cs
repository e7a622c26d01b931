using System.Text.RegularExpressions;
using DeepEM.Cli.Commands;
using DeepEM.TestSupport;

namespace DeepEM.Cli.Tests;

/// <summary>docs/cli.md is the contract: every verb and every flag the program has is there, and nothing it lists is missing from the program.</summary>
public partial class CliContractTests
{
    private static readonly string Contract = File.ReadAllText(Path.Combine(TestPaths.RepositoryRoot, "docs", "cli.md"));

    /// <summary>The flags listed in each verb's section ("### `deepem VERB ...`", then a table of "| `--flag ...` |" rows).</summary>
    private static Dictionary<string, HashSet<string>> Sections()
    {
        var sections = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        HashSet<string>? current = null;
        foreach (var line in Contract.Split('\n'))
        {
            var heading = VerbHeading().Match(line);
            if (heading.Success)
            {
                current = sections[heading.Groups[1].Value] = new HashSet<string>(StringComparer.Ordinal);
                continue;
            }
            if (line.StartsWith("## ", StringComparison.Ordinal)) current = null;
            var row = FlagRow().Match(line);
            if (current is not null && row.Success) current.Add(row.Groups[1].Value);
        }
        return sections;
    }

    [Fact]
    public void Every_verb_and_flag_of_the_program_is_in_the_contract_and_nothing_else()
    {
        var sections = Sections();
        var verbs = Verbs.All();
        Assert.Equal(verbs.Select(v => v.Name).Order(), sections.Keys.Order());
        var flags = 0;
        foreach (var verb in verbs)
        {
            var program = verb.Options.Select(o => o.Name).Where(n => n is not ("--help" or "--verbose")).ToHashSet();
            Assert.True(program.SetEquals(sections[verb.Name]),
                $"deepem {verb.Name}: in the program, not in docs/cli.md: {string.Join(" ", program.Except(sections[verb.Name]))}; " +
                $"in docs/cli.md, not in the program: {string.Join(" ", sections[verb.Name].Except(program))}");
            flags += program.Count;
        }
        Assert.True(flags > 80, $"only {flags} flags found: the sections were not read");
    }

    [Fact]
    public void No_source_names_the_contract_outside_the_repository()
    {
        var root = TestPaths.RepositoryRoot;
        var files = new[] { "src", "tests", "protos" }.SelectMany(d => Directory.EnumerateFiles(Path.Combine(root, d), "*.*", SearchOption.AllDirectories))
            .Where(f => Path.GetExtension(f) is ".cs" or ".proto")
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Append(Path.Combine(root, "deepem"))
            .ToList();
        Assert.True(files.Count > 100, $"{files.Count} files");
        // The contract's old file name, put together so that this file does not name it either.
        var old = "CONTRACT" + ".md";
        var naming = files.Where(f => File.ReadAllText(f).Contains(old, StringComparison.Ordinal)).Select(f => Path.GetRelativePath(root, f)).ToList();
        Assert.True(naming.Count == 0, $"these name {old}, which is not in the repository (docs/cli.md is the contract): {string.Join(", ", naming)}");
    }

    [GeneratedRegex(@"^### `deepem (\w+)")]
    private static partial Regex VerbHeading();

    [GeneratedRegex(@"^\| `(--[\w-]+)")]
    private static partial Regex FlagRow();
}
