using System.CommandLine;
using DeepEM.Cli.Infrastructure;

namespace DeepEM.Cli.Commands;

/// <summary>
/// The verbs of CONTRACT.md whose engines are not built yet. They parse their contract flags (so --help
/// documents them and scripts can be written against them) and then say plainly that they are not built,
/// with exit code 1. Each moves into its own file when its issue lands.
/// </summary>
public static class PlannedCommands
{
    public static IEnumerable<Command> Create()
    {
        yield return Planned("classify", "Reference-free 2D classification of the picked particles.", "2D classification",
            Multi("--micrographs", "micrograph files, folders or glob patterns"), Req("--picks", "folder of picks"), Int("--box", "box size in pixels"),
            Int("--classes", "number of classes"), Req("--out", "output folder"));
    }

    private static Option<string> Req(string name, string description) => new(name) { Description = description, Required = true };

    private static Option<string> Opt(string name, string description) => new(name) { Description = description };

    private static Option<int> Int(string name, string description) => new(name) { Description = description };

    private static Option<string[]> Multi(string name, string description) =>
        new(name) { Description = description, Required = true, AllowMultipleArgumentsPerToken = true, Arity = ArgumentArity.OneOrMore };

    private static Command Planned(string verb, string description, string what, params Option[] options)
    {
        var command = new Command(verb, $"{description} (not built yet)");
        foreach (var option in options)
        {
            command.Options.Add(option);
        }
        command.SetAction(_ =>
        {
            Terminal.Error($"'{verb}' is not built yet: {what} has not landed in this version");
            return ExitCodes.Fatal;
        });
        return command;
    }
}
