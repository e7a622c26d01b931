namespace DeepEM.Cli.Tests;

public class CommandLineTests
{
    [Theory]
    [InlineData("demo")]
    [InlineData("train")]
    [InlineData("pick")]
    [InlineData("evaluate")]
    [InlineData("bench")]
    [InlineData("simulate")]
    [InlineData("classify")]
    [InlineData("info")]
    [InlineData("node")]
    [InlineData("status")]
    public void Every_verb_of_the_contract_prints_help(string verb)
    {
        var r = DeepemProcess.Run(verb, "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains($"deepem {verb}", r.Stdout);
    }

    [Fact]
    public void Unknown_verbs_and_flags_are_usage_errors_with_exit_code_2()
    {
        var verb = DeepemProcess.Run("frobnicate");
        Assert.Equal(2, verb.ExitCode);
        Assert.StartsWith("deepem: error: ", verb.Stderr);
        var flag = DeepemProcess.Run("info", "--no-such-flag", "x.mrc");
        Assert.Equal(2, flag.ExitCode);
        Assert.Contains("--no-such-flag", flag.Stderr);
    }

    [Theory]
    [InlineData("node", "--roles", "gpu")]
    [InlineData("node", "--seed-nodes", "localhost")]
    [InlineData("node", "--port", "70000")]
    [InlineData("status", "--join", "nohost")]
    [InlineData("pick", "--join", "127.0.0.1", "--model", "m.deepem", "--micrographs", "x.mrc", "--out", "o")]
    [InlineData("pick", "--join", "127.0.0.1:2552", "--config", "/nonexistent/site.conf", "--model", "m.deepem", "--micrographs", "x.mrc", "--out", "o")]
    [InlineData("status", "--config", "/nonexistent/site.conf")]
    [InlineData("node", "--device", "cpu", "--gpus", "0")]
    [InlineData("node", "--gpus", "0,x")]
    public void Cluster_flags_that_cannot_work_are_usage_errors(params string[] args)
    {
        var r = DeepemProcess.Run(args);
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}: {r.Stderr}");
        Assert.StartsWith("deepem: error: ", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Theory]
    [InlineData("go with --watch", "--micrographs", "x.mrc", "--settle", "5")]
    [InlineData("not a RELION list", "--micrographs", "micrographs.star", "--watch")]
    [InlineData("needs a folder or a pattern", "--micrographs", "x.mrc", "--watch")]
    [InlineData("--settle 0: seconds", "--micrographs", "/tmp", "--watch", "--settle", "0")]
    [InlineData("--idle -1: minutes", "--micrographs", "/tmp", "--watch", "--idle", "-1")]
    [InlineData("needs the folder /nonexistent/in to exist", "--micrographs", "/nonexistent/in/*.mrc", "--watch")]
    public void Watch_flags_that_cannot_work_are_one_line_usage_errors_before_the_model_is_read(string says, params string[] args)
    {
        var r = DeepemProcess.Run(["pick", "--model", "/nonexistent/m.deepem", "--out", "/nonexistent/o", .. args]);
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}: {r.Stderr}");
        Assert.Contains(says, Assert.Single(r.ErrorLines));
        Assert.StartsWith("deepem: error: ", r.Stderr);
    }

    [Fact]
    public void Status_without_a_journal_says_where_it_looked()
    {
        var r = DeepemProcess.Run("status", "--state", "/nonexistent/deepem-state");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("deepem: error: /nonexistent/deepem-state: no campaign journal here (give --state, or --join a running cluster)", r.Stderr.Trim());
    }
}

public class BenchVerbTests
{
    /// <summary>Not a timed test: the benchmark verb runs and prints its numbers (the rates themselves go to docs/benchmarks.md).</summary>
    [Fact]
    public void Bench_prints_the_peak_and_training_throughput()
    {
        var r = DeepemProcess.Run("bench", "--parts", "training", "--seconds", "0.3");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Matches(@"measured FMA peak [0-9.]+ GFLOP/s", r.Stdout);
        Assert.Matches(@"deepem-48\s+box\s+48:\s+[0-9.]+ boxes/s", r.Stdout);
        Assert.Matches(@"paper-klh\s+box 272:\s+[0-9.]+ boxes/s", r.Stdout);
    }

    /// <summary>
    /// The coordinator at scale on a small campaign (2 worker nodes, one joining, one leaving, the coordinator killed and
    /// restarted): every figure is in the JSON and the journal audit finds every micrograph once. Not timed.
    /// </summary>
    [Fact]
    public void Bench_of_the_cluster_audits_its_journal_and_writes_its_figures()
    {
        var json = Path.Combine(Path.GetTempPath(), $"deepem-bench-{Guid.NewGuid():N}.json");
        try
        {
            var r = DeepemProcess.Run("bench", "--parts", "cluster", "--nodes", "2", "--micrographs", "300", "--journal", "sqlite", "--json", json);
            Assert.True(r.ExitCode == 0, r.Stderr);
            Assert.Matches(@"sqlite\s+2\s+[0-9]+\s+[0-9.]+", r.Stdout);
            using var document = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
            var run = Assert.Single(document.RootElement.EnumerateArray());
            Assert.Equal("sqlite", run.GetProperty("journal").GetString());
            Assert.Equal(2, run.GetProperty("nodes").GetInt32());
            Assert.Equal(300, run.GetProperty("micrographs").GetInt32());
            Assert.True(run.GetProperty("exactly_once").GetBoolean());
            Assert.True(run.GetProperty("micrographs_per_second").GetDouble() > 0);
            Assert.True(run.GetProperty("recovery_seconds").GetDouble() > 0);
            // A restarted coordinator that was downed is started again (as systemd would) and counted: the count is the
            // number of times the bench said so.
            var restarts = run.GetProperty("coordinator_supervisor_restarts").GetInt32();
            Assert.Equal(System.Text.RegularExpressions.Regex.Matches(r.Stderr, "starting it again, as a supervisor would").Count, restarts);
            Assert.InRange(restarts, 0, DeepEM.Cluster.Benchmarks.ScaleBenchmark.MaxSupervisorRestarts);
            Assert.True(run.GetProperty("coordinator_peak_mb").GetDouble() > 50);
            Assert.Equal(1, run.GetProperty("leaving_nodes").GetInt32());
            // The journal's size is a property of its events, not of the machine: well under the 200 bytes promised.
            var bytes = run.GetProperty("journal_bytes_per_micrograph").GetDouble();
            Assert.InRange(bytes, 10, 200);
        }
        finally
        {
            File.Delete(json);
        }
    }
}
