using System.CommandLine;
using System.CommandLine.Invocation;
using DeepEM.Cli.Commands;
using DeepEM.Cli.Infrastructure;

// The deepem command line: every verb of docs/cli.md, one file each under Commands/.
var verbose = new Option<bool>("--verbose") { Description = "show stack traces and details of errors", Recursive = true };
var root = new RootCommand("DeepEM.Cluster: particle picking for single-particle cryo-EM with the DeepEM network.") { verbose };
foreach (var verb in Verbs.All()) root.Subcommands.Add(verb);

var parse = root.Parse(args);
Terminal.Verbose = parse.GetValue(verbose);
if (parse.Errors.Count > 0 && parse.Action is ParseErrorAction)
{
    foreach (var error in parse.Errors)
    {
        Terminal.Error(error.Message);
    }
    var verb = parse.CommandResult.Command == root ? "" : $" {parse.CommandResult.Command.Name}";
    Console.Error.WriteLine($"Try 'deepem{verb} --help'.");
    return ExitCodes.Usage;
}
// Signals are the verbs' own business (node leaves the cluster, pick and train stop following: Infrastructure/Interruption);
// System.CommandLine's handler would end the process two seconds after SIGTERM, in the middle of a graceful leave.
return parse.Invoke(new InvocationConfiguration { ProcessTerminationTimeout = null });
