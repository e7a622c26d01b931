using System.Globalization;
using System.Text;
using System.Text.Json;
using Akka.Actor;
using Akka.Event;

namespace DeepEM.Cluster.Diagnostics;

/// <summary>
/// The nodes' logger: one line per event to the file named by <c>deepem.log.file</c>, or to standard error
/// (standard output is for results, docs/cli.md). <c>deepem.log.format</c> chooses the line:
/// <list type="bullet">
/// <item><c>text</c>: logfmt, <c>time level node= source= [campaign= micrograph= | training= step=] msg="…"</c>,
/// readable in a terminal and parsed by Loki, Vector and friends.</item>
/// <item><c>json</c>: one JSON object per line with the same keys, for log stores that want JSON (Kubernetes).</item>
/// </list>
/// Lines logged through <see cref="NodeLog"/> carry their campaign and micrograph (or training and step) as fields.
/// </summary>
internal sealed class NodeLogger : ReceiveActor, Akka.Dispatch.IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    private TextWriter _writer = Console.Error;
    private bool _json;
    private string _node = "";

    public NodeLogger()
    {
        Receive<InitializeLogger>(_ =>
        {
            var config = Context.System.Settings.Config;
            var file = config.GetString("deepem.log.file", "");
            _json = config.GetString("deepem.log.format", "text") switch
            {
                "json" => true,
                "text" => false,
                var other => throw new ArgumentException($"deepem.log.format = {other}: text or json"),
            };
            if (file.Length > 0)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
                _writer = TextWriter.Synchronized(new StreamWriter(file, append: true) { AutoFlush = true });
            }
            Sender.Tell(new LoggerInitialized());
        });
        Receive<LogEvent>(e =>
        {
            if (_node.Length == 0 && ListeningAddress(Context.System) is { } node) _node = node;
            _writer.WriteLine(_json ? Json(e) : Text(e));
        });
    }

    /// <summary>
    /// This node's host:port once remoting listens; null before, so that the first few lines of a node's start go without
    /// it. Akka.Remote's provider (1.5.73) throws NullReferenceException when asked for its address before its remoting
    /// is initialised, which happens for the lines logged while the actor system starts (the debug ones at least): that
    /// exception stopped the logger, and the line was lost and replaced by an error about the logger.
    /// </summary>
    private static string? ListeningAddress(ActorSystem system)
    {
        if (system is not ExtendedActorSystem { Provider: { } provider }) return null;
        try
        {
            return provider.DefaultAddress is { Host: { } host, Port: { } port } ? $"{host}:{port}" : null;
        }
        catch (NullReferenceException)
        {
            return null;
        }
    }

    private static string Level(LogEvent e) => e.LogLevel() switch
    {
        LogLevel.DebugLevel => "debug",
        LogLevel.InfoLevel => "info",
        LogLevel.WarningLevel => "warn",
        _ => "error",
    };

    private static (LogFields Fields, string Text) Split(LogEvent e)
    {
        var text = e.Message is LogLine line ? line.Text : e.Message?.ToString() ?? "";
        if (e is Error { Cause: { } ex }) text += $" ({ex.GetType().Name}: {ex.Message})";
        return (e.Message is LogLine l ? l.Fields : default, text);
    }

    private string Text(LogEvent e)
    {
        var (fields, text) = Split(e);
        var line = new StringBuilder(160)
            .Append(e.Timestamp.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture))
            .Append(' ').Append(Level(e))
            .Append(" node=").Append(LogFormat.Quote(_node))
            .Append(" source=").Append(LogFormat.Quote(e.LogSource ?? ""));
        foreach (var (key, value) in fields.Pairs()) line.Append(' ').Append(key).Append('=').Append(LogFormat.Quote(value));
        return line.Append(" msg=").Append(LogFormat.Quote(text)).ToString();
    }

    private string Json(LogEvent e)
    {
        var (fields, text) = Split(e);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("time", e.Timestamp.ToUniversalTime());
            json.WriteString("level", Level(e));
            json.WriteString("node", _node);
            json.WriteString("source", e.LogSource);
            foreach (var (key, value) in fields.Pairs())
            {
                if (key == "step") json.WriteNumber(key, fields.Step!.Value);
                else json.WriteString(key, value);
            }
            json.WriteString("msg", text);
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    protected override void PostStop()
    {
        if (_writer != Console.Error) _writer.Dispose();
        base.PostStop();
    }
}
