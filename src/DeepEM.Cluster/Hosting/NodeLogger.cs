using System.Globalization;
using Akka.Actor;
using Akka.Event;

namespace DeepEM.Cluster.Hosting;

/// <summary>
/// The nodes' logger: one line per event, UTC time, level, node address and source, to the file named by
/// <c>deepem.log.file</c> or to standard error. Standard output stays for results (CONTRACT.md).
/// </summary>
public sealed class NodeLogger : ReceiveActor, Akka.Dispatch.IRequiresMessageQueue<Akka.Event.ILoggerMessageQueueSemantics>
{
    private TextWriter _writer = Console.Error;
    private string _node = "";

    public NodeLogger()
    {
        Receive<InitializeLogger>(_ =>
        {
            var file = Context.System.Settings.Config.GetString("deepem.log.file", "");
            if (file.Length > 0)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
                _writer = TextWriter.Synchronized(new StreamWriter(file, append: true) { AutoFlush = true });
            }
            Sender.Tell(new LoggerInitialized());
        });
        Receive<LogEvent>(e =>
        {
            if (_node.Length == 0 && Context.System is ExtendedActorSystem { Provider.DefaultAddress: { Host: { } h, Port: { } p } })
            {
                // Known once remoting listens; the first few lines of a node's start go without it.
                _node = $"{h}:{p}";
            }
            var level = e.LogLevel() switch
            {
                Akka.Event.LogLevel.DebugLevel => "DEBUG",
                Akka.Event.LogLevel.InfoLevel => "INFO",
                Akka.Event.LogLevel.WarningLevel => "WARN",
                _ => "ERROR",
            };
            var cause = e is Error { Cause: { } ex } ? $" ({ex.GetType().Name}: {ex.Message})" : "";
            _writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{e.Timestamp.ToUniversalTime():yyyy-MM-ddTHH:mm:ss.fffZ} {level} node={_node} source={e.LogSource} {e.Message}{cause}"));
        });
    }

    protected override void PostStop()
    {
        if (_writer != Console.Error) _writer.Dispose();
        base.PostStop();
    }
}
