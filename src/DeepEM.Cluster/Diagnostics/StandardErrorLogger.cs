using Akka.Event;

namespace DeepEM.Cluster.Diagnostics;

/// <summary>
/// Akka's fallback logger (<c>akka.stdout-logger-class</c>): what is logged before <see cref="NodeLogger"/> starts and
/// after it stops (a node shutting down) goes to standard error. Akka's default writes to standard output, which
/// docs/cli.md keeps for results: a late "Remoting shut down" must not end up among a verb's output lines.
/// </summary>
internal sealed class StandardErrorLogger : MinimalLogger
{
    protected override void Log(object message)
    {
        // Akka gives this logger every level while it shuts down; a finished command should end quietly.
        if (message is LogEvent { } quiet && quiet.LogLevel() < LogLevel.WarningLevel) return;
        if (message is LogEvent e) Console.Error.WriteLine($"deepem: akka: {e.LogLevel().ToString().Replace("Level", "").ToLowerInvariant()}: {e.LogSource}: {e.Message}");
        else Console.Error.WriteLine($"deepem: akka: {message}");
    }
}
