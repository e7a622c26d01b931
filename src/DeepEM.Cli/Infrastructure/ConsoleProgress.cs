using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace DeepEM.Cli.Infrastructure;

/// <summary>
/// Progress of a long verb (pick, train, status --follow): on a terminal, Spectre.Console bars with the rate and the
/// time left, and the verb's own lines scrolling above them; otherwise (a file, a pipe, a batch job's log) plain
/// lines: the verb's lines as they come and a <c>progress:</c> line with the rate and the time left at most every
/// <see cref="PlainInterval"/>. Updates may come from any thread; only the display's own loop writes to the terminal.
/// </summary>
public sealed class ConsoleProgress : IAsyncDisposable
{
    /// <summary>How often the plain progress line is written at most.</summary>
    public static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(10);

    private readonly TextWriter _plain;
    private readonly string _unit;
    private readonly bool _interactive;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly ConcurrentDictionary<string, Bar> _bars = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly object _plainLock = new();

    private sealed class Bar(string label, int order)
    {
        public string Label { get; } = label;
        public int Order { get; } = order;
        public long Total;
        public long Done;
        public long Start = -1;
        public readonly Stopwatch Watch = Stopwatch.StartNew();
        public TimeSpan? LastPlain;
        public long LastPlainDone = -1;
    }

    /// <param name="plain">Where lines go when the output is not a terminal (and always, in tests).</param>
    /// <param name="unit">What the bars count, for the rate: "micrographs", "epochs".</param>
    public ConsoleProgress(TextWriter plain, string unit)
    {
        _plain = plain;
        _unit = unit;
        _interactive = IsTerminal(plain);
        _loop = _interactive ? Task.Run(RunBarsAsync) : Task.CompletedTask;
    }

    /// <summary>Bars only for the process's own standard output, when it is a terminal that can redraw.</summary>
    public static bool IsTerminal(TextWriter writer) =>
        ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive
        && Environment.GetEnvironmentVariable("DEEPEM_PROGRESS") != "plain";

    /// <summary>A line of the verb's own output (above the bars on a terminal).</summary>
    public void Line(string text)
    {
        if (_interactive) _lines.Enqueue(text);
        else lock (_plainLock) _plain.WriteLine(text);
    }

    /// <summary>A writer whose lines go through <see cref="Line"/>, for code that writes to a TextWriter.</summary>
    public TextWriter Lines => new LineWriter(this);

    private sealed class LineWriter(ConsoleProgress progress) : TextWriter
    {
        private readonly System.Text.StringBuilder _partial = new();

        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;

        public override void Write(char value)
        {
            lock (_partial)
            {
                if (value == '\n')
                {
                    progress.Line(_partial.ToString().TrimEnd('\r'));
                    _partial.Clear();
                }
                else _partial.Append(value);
            }
        }

        public override void WriteLine(string? value)
        {
            lock (_partial)
            {
                progress.Line(_partial.Append(value).ToString());
                _partial.Clear();
            }
        }
    }

    /// <summary>Sets a bar's counts (created on first use, shown in the order first used).</summary>
    public void Report(string key, string label, long done, long total)
    {
        var bar = _bars.GetOrAdd(key, _ => new Bar(label, _bars.Count));
        lock (bar)
        {
            if (bar.Start < 0) bar.Start = done;
            bar.Done = Math.Max(bar.Done, done);
            bar.Total = total;
        }
        if (!_interactive) MaybePlain(bar, force: done >= total);
    }

    private void MaybePlain(Bar bar, bool force)
    {
        string? line = null;
        lock (bar)
        {
            var now = bar.Watch.Elapsed;
            if (bar.Done == bar.LastPlainDone || (!force && bar.LastPlain is { } last && now - last < PlainInterval)) return;
            bar.LastPlain = now;
            bar.LastPlainDone = bar.Done;
            var rate = Rate(bar);
            var left = rate > 0 && bar.Done < bar.Total ? $", {Duration(TimeSpan.FromSeconds((bar.Total - bar.Done) / rate))} left" : "";
            line = string.Create(CultureInfo.InvariantCulture,
                $"progress: {bar.Label}: {bar.Done}/{bar.Total} {_unit} ({100.0 * bar.Done / Math.Max(1, bar.Total):0}%), {rate:0.##} {_unit}/s{left}, {Duration(now)} elapsed");
        }
        lock (_plainLock) _plain.WriteLine(line);
    }

    /// <summary>Units per second since this display first saw the bar (work done before, e.g. on a resume, does not count).</summary>
    private static double Rate(Bar bar)
    {
        var seconds = bar.Watch.Elapsed.TotalSeconds;
        return seconds > 0 ? (bar.Done - bar.Start) / seconds : 0;
    }

    public static string Duration(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m"
        : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds:00}s" : $"{t.Seconds}s";

    private async Task RunBarsAsync()
    {
        await AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new CountColumn(), new RateColumn(_unit),
                new RemainingTimeColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var tasks = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
                while (true)
                {
                    var stopping = _stop.IsCancellationRequested;
                    while (_lines.TryDequeue(out var line)) AnsiConsole.Console.WriteLine(line, Style.Plain);
                    foreach (var (key, bar) in _bars.OrderBy(b => b.Value.Order))
                    {
                        if (!tasks.TryGetValue(key, out var task)) tasks[key] = task = context.AddTask(Markup.Escape(bar.Label), autoStart: true);
                        lock (bar)
                        {
                            task.MaxValue = Math.Max(1, bar.Total);
                            task.Value = Math.Min(bar.Done, bar.Total);
                        }
                    }
                    context.Refresh();
                    if (stopping) return;
                    try
                    {
                        await Task.Delay(100, _stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        // One more round: the last lines and counts.
                    }
                }
            });
    }

    public async ValueTask DisposeAsync()
    {
        if (!_interactive)
        {
            foreach (var bar in _bars.Values) MaybePlain(bar, force: true);
        }
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }

    /// <summary>"12/60": how many of how many.</summary>
    private sealed class CountColumn : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(string.Create(CultureInfo.InvariantCulture, $"{task.Value:0}/{task.MaxValue:0}"));
    }

    /// <summary>Units per second, from Spectre's own moving window.</summary>
    private sealed class RateColumn(string unit) : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(task.Speed is { } speed ? string.Create(CultureInfo.InvariantCulture, $"{speed:0.00} {unit}/s") : $"-- {unit}/s", new Style(Color.Grey));
    }
}
