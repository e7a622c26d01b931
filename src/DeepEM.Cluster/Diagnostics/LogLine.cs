using System.Text;

namespace DeepEM.Cluster.Diagnostics;

/// <summary>
/// What a log line is about: the campaign and micrograph, or the training and step. Carried beside the message
/// text (not inside it) so that <see cref="NodeLogger"/> writes them as fields a log store can index: on a night of
/// 50,000 micrographs the question is "every line about this micrograph", on every node.
/// </summary>
internal readonly record struct LogFields(string? Campaign = null, string? Micrograph = null, string? Training = null, long? Step = null)
{
    public static LogFields ForCampaign(string campaign, string? micrograph = null) => new(campaign, micrograph);

    public static LogFields ForTraining(string training, long? step = null) => new(Training: training, Step: step);

    /// <summary>The fields that are set, in a fixed order.</summary>
    public IEnumerable<(string Key, string Value)> Pairs()
    {
        if (Campaign is not null) yield return ("campaign", Campaign);
        if (Micrograph is not null) yield return ("micrograph", Micrograph);
        if (Training is not null) yield return ("training", Training);
        if (Step is { } step) yield return ("step", step.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}

/// <summary>
/// A log event's message with its fields. Akka's own loggers print it through <see cref="ToString"/> (the fields as
/// <c>key=value</c> before the text); <see cref="NodeLogger"/> writes the fields as fields.
/// </summary>
internal sealed record LogLine(LogFields Fields, string Text)
{
    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (var (key, value) in Fields.Pairs()) text.Append(key).Append('=').Append(LogFormat.Quote(value)).Append(' ');
        return text.Append(Text).ToString();
    }
}

/// <summary>logfmt quoting: a value with spaces, quotes or '=' is written in double quotes with escapes.</summary>
internal static class LogFormat
{
    public static string Quote(string value)
    {
        if (value.Length > 0 && !value.Any(c => c is ' ' or '"' or '=' or '\\' || char.IsControl(c))) return value;
        var quoted = new StringBuilder(value.Length + 2).Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': quoted.Append("\\\""); break;
                case '\\': quoted.Append("\\\\"); break;
                case '\n': quoted.Append("\\n"); break;
                case '\r': quoted.Append("\\r"); break;
                case '\t': quoted.Append("\\t"); break;
                default: quoted.Append(char.IsControl(c) ? ' ' : c); break;
            }
        }
        return quoted.Append('"').ToString();
    }
}
