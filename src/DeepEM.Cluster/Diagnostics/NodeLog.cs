using System.Globalization;
using Akka.Actor;
using Akka.Event;

namespace DeepEM.Cluster.Diagnostics;

/// <summary>
/// An actor's logger for lines about a campaign, a micrograph or a training: like Akka's
/// <see cref="ILoggingAdapter"/> (the same event stream, levels and sources), but each line carries
/// <see cref="LogFields"/>. Messages are interpolated strings, formatted with the invariant culture.
/// </summary>
internal sealed class NodeLog
{
    private readonly EventStream _stream;
    private readonly string _source;
    private readonly Type _type;
    private readonly LogLevel _level;

    public NodeLog(IActorContext context)
    {
        _stream = context.System.EventStream;
        _source = context.Self.Path.ToString();
        _type = context.Props.Type ?? typeof(NodeLog);
        _level = Logging.LogLevelFor(context.System.Settings.LogLevel);
    }

    public bool IsDebugEnabled => _level <= LogLevel.DebugLevel;

    public void Debug(LogFields fields, FormattableString text) => Publish(LogLevel.DebugLevel, fields, text, null);

    public void Info(LogFields fields, FormattableString text) => Publish(LogLevel.InfoLevel, fields, text, null);

    public void Warning(LogFields fields, FormattableString text) => Publish(LogLevel.WarningLevel, fields, text, null);

    public void Error(LogFields fields, FormattableString text, Exception? cause = null) => Publish(LogLevel.ErrorLevel, fields, text, cause);

    private void Publish(LogLevel level, LogFields fields, FormattableString text, Exception? cause)
    {
        if (level < _level) return;
        var line = new LogLine(fields, text.ToString(CultureInfo.InvariantCulture));
        LogEvent e = level switch
        {
            LogLevel.DebugLevel => new Akka.Event.Debug(_source, _type, line),
            LogLevel.InfoLevel => new Info(_source, _type, line),
            LogLevel.WarningLevel => new Warning(_source, _type, line),
            _ => new Akka.Event.Error(cause, _source, _type, line),
        };
        _stream.Publish(e);
    }
}
