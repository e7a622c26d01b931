using System.Globalization;
using System.Text.RegularExpressions;
using DeepEM.TestSupport;

namespace DeepEM.Cli.Tests;

public class DemoVerbTests
{
    /// <summary>The README's first command: the whole chain on simulated data, with real numbers at the end.</summary>
    [Fact]
    public void Demo_runs_the_chain_end_to_end_and_reports_precision_recall_and_f1()
    {
        using var temp = TestPaths.NewTemp();
        var r = DeepemProcess.Run("demo", "--out", temp.Path);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        var m = Regex.Match(r.Stdout, @"precision ([0-9.]+)\s+recall ([0-9.]+)\s+F1 ([0-9.]+)");
        Assert.True(m.Success, r.Stdout);
        var f1 = double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
        Assert.True(f1 >= 0.85, r.Stdout);
        foreach (var file in new[] { "model.deepem", "curves.png", "mic_0008-overlay.png", "picks/autopick.star", "picks/mic_0009.star", "picks/mic_0009.box" })
        {
            Assert.True(File.Exists(Path.Combine(temp.Path, file)), $"{file} missing");
        }
    }
}
