using System.CommandLine;

namespace DeepEM.Cli.Commands;

/// <summary>Every verb of docs/cli.md, in the order of <c>deepem --help</c>: one file each in this folder.</summary>
public static class Verbs
{
    public static IReadOnlyList<Command> All() =>
    [
        DemoCommand.Create(),
        SimulateCommand.Create(),
        InfoCommand.Create(),
        TrainCommand.Create(),
        PickCommand.Create(),
        EvaluateCommand.Create(),
        BenchCommand.Create(),
        NodeCommand.Create(),
        StatusCommand.Create(),
        ClassifyCommand.Create(),
        SelectCommand.Create(),
    ];
}
