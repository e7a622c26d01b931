using System.Diagnostics;

namespace DeepEM.Cli.Tests;

/// <summary>Runs the real command-line program (deepem.dll, built beside the tests) as a child process.</summary>
public static class DeepemProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string[] ErrorLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>Runs the program and fails the test, with its standard error, unless it exits 0.</summary>
    public static Result Ok(params string[] args)
    {
        var r = Run(args);
        Assert.True(r.ExitCode == 0, $"deepem {string.Join(' ', args)}: {r.Stderr}");
        return r;
    }

    public static Result Run(params string[] args) => RunIn(null, args);

    /// <summary>Runs the program in a working folder of the test's (a RELION project folder, whose relative names it reads).</summary>
    public static Result RunIn(string? workingDirectory, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "deepem.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory ?? "",
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(8)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"deepem {string.Join(' ', args)} ran over 8 minutes");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}
