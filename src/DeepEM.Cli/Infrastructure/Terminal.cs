using DeepEM.Formats;

namespace DeepEM.Cli.Infrastructure;

/// <summary>
/// Where the program talks to the user: results on stdout, errors as single lines on stderr in the form
/// <c>deepem: error: FILE: what is wrong</c>. Stack traces only with --verbose.
/// </summary>
public static class Terminal
{
    public static bool Verbose { get; set; }

    public static void Error(string message) => Console.Error.WriteLine($"deepem: error: {message}");

    public static void Error(BadInputException e) => Error(e.Message);

    public static void Warning(string message) => Console.Error.WriteLine($"deepem: warning: {message}");

    /// <summary>Runs a verb body; turns any escaping exception into one line and an exit code.</summary>
    public static int Run(Func<int> body)
    {
        try
        {
            try
            {
                return body();
            }
            catch (AggregateException e) when (e.InnerExceptions.Count == 1)
            {
                // Parallel loops wrap what failed inside them; report the failure itself.
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException!).Throw();
                throw;
            }
        }
        catch (BadInputException e)
        {
            Error(e);
            if (Verbose) Console.Error.WriteLine(e);
            return ExitCodes.Fatal;
        }
        catch (DeepEM.Numerics.ModelFile.InvalidModelException e)
        {
            Error(e.Message);
            return ExitCodes.Fatal;
        }
        catch (UsageException e)
        {
            Error(e.Message);
            return ExitCodes.Usage;
        }
        catch (Exception e)
        {
            Error(Verbose ? e.ToString() : $"{e.Message} (run with --verbose for details)");
            return ExitCodes.Fatal;
        }
    }
}

/// <summary>Wrong use of the command line that the parser cannot see (a bad combination of values).</summary>
public sealed class UsageException(string message) : Exception(message);
