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

/// <summary>
/// The program running in the background (a cluster node, a watching pick): its lines as they come, the port it
/// bound (from its start line), and waits for what it prints. Disposing kills it (SIGKILL) if it still runs.
/// </summary>
public sealed class RunningDeepem : IDisposable
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _errors = new();
    private readonly TaskCompletionSource _up = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public RunningDeepem(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "deepem.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        Process = Process.Start(start)!;
        Process.OutputDataReceived += (_, e) => Line(e.Data, error: false);
        Process.ErrorDataReceived += (_, e) => Line(e.Data, error: true);
        Process.BeginOutputReadLine();
        Process.BeginErrorReadLine();
    }

    private void Line(string? line, bool error)
    {
        if (line is null) return;
        _lines.Enqueue(line);
        if (error) _errors.Enqueue(line);
        if (UpLine.Match(line) is { Success: true } up)
        {
            Port = int.Parse(up.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            _up.TrySetResult();
        }
    }

    private static readonly System.Text.RegularExpressions.Regex UpLine = new(@"^node \S+:([0-9]+) is up \(roles");

    /// <summary>The remoting port the node bound (it was given 0, or the port it was told), read from its start line.</summary>
    public int Port { get; private set; }

    public Process Process { get; }

    /// <summary>Standard output and standard error, the lines in the order they came.</summary>
    public string Output => string.Join('\n', _lines);

    /// <summary>Standard error's lines.</summary>
    public IReadOnlyList<string> ErrorLines => [.. _errors];

    public async Task Up()
    {
        var finished = Process.WaitForExitAsync();
        if (await Task.WhenAny(_up.Task, finished, Task.Delay(TimeSpan.FromMinutes(1))) != _up.Task)
        {
            throw new InvalidOperationException($"node did not come up:\n{Output}");
        }
    }

    /// <summary>Waits until a line satisfies <paramref name="condition"/> (checked as lines come); fails with the output if the
    /// program exits first or nothing of the kind comes within <paramref name="limit"/>.</summary>
    public async Task WaitForLine(Func<string, bool> condition, TimeSpan limit, string what)
    {
        var deadline = DateTime.UtcNow + limit;
        while (!_lines.Any(condition))
        {
            if (Process.HasExited && !_lines.Any(condition)) throw new InvalidOperationException($"deepem exited ({Process.ExitCode}) before {what}:\n{Output}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no {what} within {limit.TotalSeconds:0} s:\n{Output}");
            await Task.Delay(50);
        }
    }

    public void Dispose()
    {
        if (!Process.HasExited) Process.Kill(entireProcessTree: true);
        Process.Dispose();
    }
}
