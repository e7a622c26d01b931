using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Akka.Configuration;
using DeepEM.Cli.Commands;
using DeepEM.TestSupport;
using YamlDotNet.RepresentationModel;

namespace DeepEM.Cli.Tests;

/// <summary>
/// deploy/: what this machine can run is run (the local-cluster script starts and stops three real nodes); what it
/// cannot (Kubernetes, a container engine, systemd as PID 1) is checked for structure and against the program itself:
/// every command line in a manifest or unit must parse with the real verbs, every HOCON file must parse.
/// </summary>
[Collection("cluster processes")]
public sealed class DeployTests
{
    private static string Deploy(string path) => Path.Combine(TestPaths.RepositoryRoot, "deploy", path);

    // ---- the local cluster script, for real ----

    [Fact]
    public async Task The_local_script_starts_a_three_node_cluster_and_stops_it_gracefully()
    {
        using var temp = TestPaths.NewTemp();
        // --metrics-port 0: every node on a port of its own choosing, named in the listing.
        var start = Script(temp, "start", "3", "--dir", temp.File("cluster"), "--metrics-port", "0", "--", "--device", "cpu");
        try
        {
            Assert.True(start.ExitCode == 0, start.Stdout + start.Stderr);
            Assert.Contains("cluster of 3 nodes up; seed 127.0.0.1:", start.Stdout);
            var endpoints = System.Text.RegularExpressions.Regex.Matches(start.Stdout, @"^  node [1-3]: 127\.0\.0\.1:[0-9]+ \(pid [0-9]+\); metrics at (http://127\.0\.0\.1:[0-9]+)/metrics$",
                System.Text.RegularExpressions.RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToList();
            Assert.True(endpoints.Distinct().Count() == 3, start.Stdout);
            // Every node sees all three as Up members, on its own metrics endpoint.
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            for (var i = 0; i < 3; i++)
            {
                var deadline = DateTime.UtcNow.AddSeconds(30);
                string scrape;
                while (!(scrape = await http.GetStringAsync($"{endpoints[i]}/metrics")).Contains("deepem_cluster_members{status=\"up\"} 3")
                    && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(500);
                }
                Assert.Contains("deepem_cluster_members{status=\"up\"} 3", scrape);
                Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"{endpoints[i]}/health/ready")).StatusCode);
            }
            var status = Script(temp, "status", "--dir", temp.File("cluster"));
            Assert.True(status.ExitCode == 0, status.Stdout + status.Stderr);
            Assert.Equal(3, status.Stdout.Split('\n').Count(l => l.Contains(" running (pid ")));
            Assert.Contains("no campaigns", status.Stdout);
        }
        finally
        {
            var stop = Script(temp, "stop", "--dir", temp.File("cluster"));
            Assert.True(stop.ExitCode == 0, stop.Stdout + stop.Stderr);
            Assert.Contains("stopped 3 nodes", stop.Stdout);
        }
        // Each node left gracefully (it says so on its way out), and none is left running.
        for (var i = 1; i <= 3; i++)
        {
            var output = File.ReadAllText(temp.File($"cluster/node-{i}.out"));
            Assert.Contains(" left the cluster", output);
        }
        var again = Script(temp, "status", "--dir", temp.File("cluster"));
        Assert.Equal(1, again.ExitCode);
        Assert.Equal(3, again.Stdout.Split('\n').Count(l => l.EndsWith(": stopped", StringComparison.Ordinal)));
    }

    private static DeepemProcess.Result Script(TempFolder temp, params string[] args)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Deploy("local/deepem-cluster.sh"));
        foreach (var a in args) start.ArgumentList.Add(a);
        // The program built beside the tests, not the launcher (which would build the repository again).
        start.Environment["DEEPEM"] = $"dotnet {Path.Combine(AppContext.BaseDirectory, "deepem.dll")}";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"deepem-cluster.sh {string.Join(' ', args)} ran over 5 minutes");
        }
        return new DeepemProcess.Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    // ---- the Slurm batch script, with srun played by a shim (the real Slurm test is deploy/slurm/test/run.sh) ----

    /// <summary>srun as the script uses it: --ntasks copies of the command on this machine, SLURM_PROCID set. Like the
    /// real one, a step's tasks get SIGTERM from scancel --signal=TERM JOB (below), which reaches them through this shim.</summary>
    private const string FakeSrun = """
        #!/usr/bin/env bash
        n=1
        while [[ $1 == --* ]]; do [[ $1 == --ntasks=* ]] && n=${1#--ntasks=}; shift; done
        echo $$ > "$FAKE_SLURM_DIR/step-$SLURM_JOB_ID.pid"
        pids=()
        for ((i = 0; i < n; i++)); do SLURM_PROCID=$i "$@" & pids+=($!); done
        trap 'kill -TERM "${pids[@]}" 2>/dev/null' TERM
        while ! wait; do :; done
        wait
        """;

    /// <summary>scancel --signal=TERM JOB: SIGTERM to the job's steps (not to the batch script).</summary>
    private const string FakeScancel = """
        #!/usr/bin/env bash
        [[ $1 == --signal=TERM ]] || { echo "fake scancel: only --signal=TERM JOB" >&2; exit 1; }
        kill -TERM "$(cat "$FAKE_SLURM_DIR/step-$2.pid")"
        """;

    [Fact]
    public async Task The_Slurm_script_runs_a_campaign_and_an_interrupted_allocation_resumes_in_the_next()
    {
        using var temp = TestPaths.NewTemp();
        DeepemProcess.Ok("simulate", "--out", temp.File("train"), "--count", "3", "--size", "640", "--box", "48", "--seed", "51");
        DeepemProcess.Ok("simulate", "--out", temp.File("test"), "--count", "60", "--size", "512", "--box", "48", "--seed", "52");
        DeepemProcess.Ok("train", "--micrographs", temp.File("train/micrographs"), "--coords", temp.File("train/truth"), "--box", "48", "--out", temp.File("model.deepem"), "--epochs", "2");
        Directory.CreateDirectory(temp.File("bin"));
        File.WriteAllText(temp.File("bin/srun"), FakeSrun.Replace("\r", ""));
        File.WriteAllText(temp.File("bin/scancel"), FakeScancel.Replace("\r", ""));
        Process.Start("chmod", ["+x", temp.File("bin/srun"), temp.File("bin/scancel")])!.WaitForExit();

        Process Submit(string job)
        {
            var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = temp.Path };
            foreach (var a in new[] { Deploy("slurm/deepem-pick.sbatch"), "--model", temp.File("model.deepem"), "--micrographs", temp.File("test/micrographs"), "--out", temp.File("picks"), "--device", "cpu" })
                start.ArgumentList.Add(a);
            start.Environment["PATH"] = $"{temp.File("bin")}:{Environment.GetEnvironmentVariable("PATH")}";
            start.Environment["SLURM_JOB_ID"] = job;
            start.Environment["FAKE_SLURM_DIR"] = temp.File("bin");
            start.Environment["SLURM_NTASKS"] = "2";
            start.Environment["SLURM_SUBMIT_DIR"] = temp.Path;
            start.Environment["DEEPEM"] = $"dotnet {Path.Combine(AppContext.BaseDirectory, "deepem.dll")}";
            start.Environment["DEEPEM_HOST"] = "127.0.0.1";
            start.Environment["DEEPEM_WORKER_HOST"] = "127.0.0.1";
            // Any free port, which the script reads back from the coordinator's start line.
            start.Environment["DEEPEM_PORT"] = "0";
            start.Environment["DEEPEM_DEVICE"] = "cpu";
            return Process.Start(start)!;
        }

        // The first allocation ends (SIGTERM to the batch script) after a few micrographs.
        var first = Submit("101");
        var output = new System.Text.StringBuilder();
        first.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        first.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        first.BeginOutputReadLine();
        first.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddMinutes(3);
        int Picked() { lock (output) return output.ToString().Split('\n').Count(l => l.Contains(" particles (")); }
        while (Picked() < 4 && !first.HasExited && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.False(first.HasExited, output.ToString());
        Signal(first.Id, "TERM");
        Assert.True(first.WaitForExit(TimeSpan.FromMinutes(3)), output.ToString());
        first.WaitForExit();
        Assert.True(first.ExitCode == 75, output.ToString());
        Assert.Contains("SIGTERM: the allocation is ending", output.ToString());
        Assert.Contains("submit the same command again to resume it", output.ToString());
        // The client was stopped, not removed: it says so and does not join the cluster again.
        Assert.Contains("picks: interrupted; the campaign goes on in the cluster", output.ToString());
        Assert.DoesNotContain("joining again", output.ToString());
        // Every node that was up left gracefully (it says so on its way out); a worker still joining when the
        // allocation ended may never have been up. The coordinator writes each micrograph's picks before its journal
        // entry, until it has left: count the files once it has (CI once counted a moment before, 8 files to 12 entries).
        var coordinatorLog = temp.File("deepem-logs/101/coordinator.out");
        for (var wait = 0; wait < 300 && !File.ReadAllText(coordinatorLog).Contains(" left the cluster"); wait++) await Task.Delay(200);
        Assert.Contains(" left the cluster", File.ReadAllText(coordinatorLog));
        var doneFirst = Directory.GetFiles(temp.File("picks"), "*.star").Count(f => !f.EndsWith("autopick.star", StringComparison.Ordinal));
        Assert.InRange(doneFirst, 4, 59);
        // The micrographs the first client printed as picked were journalled before it printed them: their files must
        // not be written again (a rewrite renames a new file into place, a new modification time).
        string[] printed;
        lock (output) printed = output.ToString().Split('\n').Where(l => l.Contains(" particles (")).Select(l => l[..l.IndexOf(':')].Trim()).ToArray();
        Assert.All(printed, n => Assert.True(File.Exists(temp.File($"picks/{n}.star")), $"{n} was printed as picked and has no picks"));
        var journalled = printed.ToDictionary(n => n, n => File.GetLastWriteTimeUtc(temp.File($"picks/{n}.star")));
        var workersUp = 0;
        foreach (var worker in Directory.GetFiles(temp.File("deepem-logs/101"), "worker-*.out").Select(File.ReadAllText))
        {
            if (!worker.Contains(" is up (roles worker)")) continue;
            workersUp++;
            Assert.Contains(" left the cluster", worker);
        }
        Assert.True(workersUp >= 1, "no worker node was up");

        // The next allocation resumes the campaign from the journal and finishes it.
        var second = Submit("102");
        var stdout = second.StandardOutput.ReadToEndAsync();
        var stderr = second.StandardError.ReadToEndAsync();
        Assert.True(second.WaitForExit(TimeSpan.FromMinutes(4)), "the resumed campaign did not finish in 4 minutes");
        second.WaitForExit();
        var text = await stdout + await stderr;
        Assert.True(second.ExitCode == 0, text);
        Assert.Contains("(resumed)", text);
        // What the journal knew as done is not picked again. A micrograph whose picks were being written as the first
        // allocation ended may be picked once more (at least once, never lost), so: the two add up to 60, and the
        // micrographs seen done before the SIGTERM are not picked again. "Already done" counts what was done when the
        // client's submission was accepted, which may include some the new allocation's workers picked before (the
        // recovered coordinator goes on with the open ones at once), so it is not bounded by the files counted above.
        var summary = Regex.Match(text, @"picked (\d+) micrographs \(\d+ particles\) in [\d.]+ s, (\d+) already done");
        Assert.True(summary.Success, text);
        var (again, already) = (int.Parse(summary.Groups[1].Value), int.Parse(summary.Groups[2].Value));
        Assert.True(again + already == 60 && already >= printed.Length, $"{summary.Value}; {printed.Length} were printed as picked in the first allocation");
        foreach (var (name, written) in journalled) Assert.True(File.GetLastWriteTimeUtc(temp.File($"picks/{name}.star")) == written, $"{name} was picked again");
        Assert.Equal(60, Directory.GetFiles(temp.File("picks"), "*.star").Count(f => !f.EndsWith("autopick.star", StringComparison.Ordinal)));
        Assert.Contains("campaign finished (deepem pick exit code 0)", text);
    }


    private static void Signal(int pid, string signal) => Process.Start("kill", ["-" + signal, $"{pid}"])!.WaitForExit();

    [Fact]
    public void The_Slurm_scripts_are_valid_bash()
    {
        foreach (var script in new[] { "slurm/deepem-pick.sbatch", "slurm/test/local-slurm.sh", "slurm/test/run.sh", "local/deepem-cluster.sh" })
        {
            using var bash = Process.Start(new ProcessStartInfo("bash", ["-n", Deploy(script)]) { RedirectStandardError = true })!;
            var errors = bash.StandardError.ReadToEnd();
            bash.WaitForExit();
            Assert.True(bash.ExitCode == 0, $"{script}: {errors}");
        }
    }

    // ---- Kubernetes: structure, and the command lines against the real verbs ----

    private static List<YamlMappingNode> Manifests()
    {
        var documents = new List<YamlMappingNode>();
        foreach (var file in Directory.GetFiles(Deploy("k8s"), "*.yaml").Order())
        {
            var stream = new YamlStream();
            using var reader = new StreamReader(file);
            stream.Load(reader);
            documents.AddRange(stream.Documents.Select(d => (YamlMappingNode)d.RootNode));
        }
        return documents;
    }

    private static YamlNode At(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            var map = Assert.IsType<YamlMappingNode>(node);
            Assert.True(map.Children.ContainsKey(key), $"missing '{key}' in {string.Join('.', path)}");
            node = map[key];
        }
        return node;
    }

    private static string Text(YamlNode node, params string[] path) => ((YamlScalarNode)At(node, path)).Value!;

    private static bool Has(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            if (node is not YamlMappingNode map || !map.Children.TryGetValue(key, out var next)) return false;
            node = next;
        }
        return true;
    }

    private static YamlMappingNode Kind(List<YamlMappingNode> docs, string kind, string name) =>
        docs.Single(d => Text(d, "kind") == kind && Text(d, "metadata", "name") == name);

    /// <summary>Container args with Kubernetes' $(VAR) references replaced by plausible values.</summary>
    private static string[] Args(YamlNode container) => ((YamlSequenceNode)At(container, "args")).Children
        .Select(a => ((YamlScalarNode)a).Value!
            .Replace("$(POD_NAME)", "deepem-worker-3").Replace("$(POD_NAMESPACE)", "picking").Replace("$(POD_IP)", "10.1.2.3"))
        .ToArray();

    [Fact]
    public void The_Kubernetes_manifests_describe_a_cluster_the_program_can_run()
    {
        var docs = Manifests();
        Assert.All(docs, d =>
        {
            Assert.False(string.IsNullOrEmpty(Text(d, "apiVersion")));
            Assert.False(string.IsNullOrEmpty(Text(d, "kind")));
        });
        var service = Kind(docs, "Service", "deepem");
        Assert.Equal("None", Text(service, "spec", "clusterIP"));
        Assert.Equal("true", Text(service, "spec", "publishNotReadyAddresses"));
        var servicePorts = ((YamlSequenceNode)At(service, "spec", "ports")).Children.ToDictionary(p => Text(p, "name"), p => int.Parse(Text(p, "port")));

        var config = Kind(docs, "ConfigMap", "deepem-config");
        var site = ConfigurationFactory.ParseString(Text(config, "data", "site.conf"));
        Assert.Equal("0.0.0.0", site.GetString("deepem.metrics.host"));
        Assert.Equal(servicePorts["metrics"], site.GetInt("deepem.metrics.port"));

        var coordinator = Kind(docs, "StatefulSet", "deepem-coordinator");
        var workers = Kind(docs, "StatefulSet", "deepem-worker");
        var seed = $"deepem-coordinator-0.deepem.picking.svc.cluster.local:{servicePorts["remoting"]}";
        foreach (var (set, roles) in new[] { (coordinator, "coordinator"), (workers, "worker") })
        {
            Assert.Equal("deepem", Text(set, "spec", "serviceName"));
            var selector = (YamlMappingNode)At(set, "spec", "selector", "matchLabels");
            var labels = (YamlMappingNode)At(set, "spec", "template", "metadata", "labels");
            Assert.All(selector.Children, l => Assert.Equal(((YamlScalarNode)l.Value).Value, ((YamlScalarNode)labels[l.Key]).Value));
            // The headless service selects every node pod.
            Assert.All(((YamlMappingNode)At(service, "spec", "selector")).Children, l => Assert.Equal(((YamlScalarNode)l.Value).Value, ((YamlScalarNode)labels[l.Key]).Value));
            var pod = At(set, "spec", "template", "spec");
            Assert.True(int.Parse(Text(pod, "terminationGracePeriodSeconds")) >= 300, "a leaving node needs the hand-off timeout (300 s)");
            Assert.Equal("true", Text(pod, "securityContext", "runAsNonRoot"));
            Assert.NotEqual("0", Text(pod, "securityContext", "runAsUser"));
            var container = ((YamlSequenceNode)At(pod, "containers")).Children.Single();
            var ports = ((YamlSequenceNode)At(container, "ports")).Children.ToDictionary(p => Text(p, "name"), p => int.Parse(Text(p, "containerPort")));
            Assert.Equal(servicePorts["remoting"], ports["remoting"]);
            Assert.Equal(servicePorts["metrics"], ports["metrics"]);
            Assert.Equal("/health/ready", Text(container, "readinessProbe", "httpGet", "path"));
            Assert.Equal("/health/live", Text(container, "livenessProbe", "httpGet", "path"));
            Assert.Equal("metrics", Text(container, "readinessProbe", "httpGet", "port"));
            Assert.True(Has(container, "resources", "requests", "cpu") && Has(container, "resources", "requests", "memory"));

            var args = Args(container);
            Assert.Equal("node", args[0]);
            var parse = NodeCommand.Create().Parse(args[1..]);
            Assert.True(parse.Errors.Count == 0, string.Join("; ", parse.Errors.Select(e => e.Message)));
            Assert.Contains($"--roles={roles}", args);
            Assert.Contains($"--port={ports["remoting"]}", args);
            Assert.Contains($"--seed-nodes={seed}", args);
            Assert.Contains("--config=/etc/deepem/site.conf", args);
            // The --config file is where the ConfigMap is mounted.
            var mounts = ((YamlSequenceNode)At(container, "volumeMounts")).Children.ToDictionary(m => Text(m, "name"), m => Text(m, "mountPath"));
            Assert.Equal("/etc/deepem", mounts["config"]);
        }
        // The seed is the coordinator's pod 0 under the headless service, and the coordinator keeps its journal.
        Assert.Equal("1", Text(coordinator, "spec", "replicas"));
        Assert.Contains("--state=/state", Args(At(coordinator, "spec", "template", "spec", "containers").AllNodes.OfType<YamlMappingNode>().First()));
        Assert.Equal("state", Text(((YamlSequenceNode)At(coordinator, "spec", "volumeClaimTemplates")).Children[0], "metadata", "name"));
        var worker = ((YamlSequenceNode)At(workers, "spec", "template", "spec", "containers")).Children.Single();
        Assert.Equal("1", Text(worker, "resources", "limits", "nvidia.com/gpu"));
        Assert.Contains("--device=gpu", Args(worker));

        // The campaign Job: a real `pick --join` command line against the same seed and settings.
        var job = Kind(docs, "Job", "deepem-pick");
        var pick = ((YamlSequenceNode)At(job, "spec", "template", "spec", "containers")).Children.Single();
        var pickArgs = Args(pick);
        Assert.Equal("pick", pickArgs[0]);
        var pickParse = PickCommand.Create().Parse(pickArgs[1..]);
        Assert.True(pickParse.Errors.Count == 0, string.Join("; ", pickParse.Errors.Select(e => e.Message)));
        Assert.Contains($"--join={seed}", pickArgs);
        Assert.Contains("--config=/etc/deepem/site.conf", pickArgs);
        Assert.Contains(Text(job, "spec", "template", "spec", "restartPolicy"), new[] { "OnFailure", "Never" });

        // Every volume claim a pod names exists.
        var claims = docs.Where(d => Text(d, "kind") == "PersistentVolumeClaim").Select(d => Text(d, "metadata", "name")).ToHashSet();
        foreach (var named in docs.SelectMany(d => d.AllNodes).OfType<YamlMappingNode>().Where(m => Has(m, "persistentVolumeClaim")))
        {
            Assert.Contains(Text(named, "persistentVolumeClaim", "claimName"), claims);
        }
        // kustomization.yaml lists every manifest but the Job.
        var kustomize = docs.Single(d => Text(d, "kind") == "Kustomization");
        var listed = ((YamlSequenceNode)At(kustomize, "resources")).Children.Select(r => ((YamlScalarNode)r).Value).Order();
        var files = Directory.GetFiles(Deploy("k8s"), "*.yaml").Select(Path.GetFileName).Where(f => f is not ("kustomization.yaml" or "pick-job.yaml")).Order();
        Assert.Equal(files, listed);
    }

    // ---- the image ----

    [Fact]
    public void The_Dockerfile_builds_in_stages_and_runs_as_a_user_without_privileges()
    {
        var lines = File.ReadAllLines(Deploy("docker/Dockerfile")).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        var stages = lines.Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, stages.Count);
        Assert.Matches("^FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build$", stages[0]);
        Assert.Matches("^FROM mcr.microsoft.com/dotnet/runtime:10.0 AS runtime$", stages[1]);
        var runtime = lines.SkipWhile(l => l != stages[1]).ToList();
        Assert.Contains("COPY --from=build /app ./", runtime);
        var user = runtime.Single(l => l.StartsWith("USER ", StringComparison.Ordinal))["USER ".Length..].Split(':')[0];
        Assert.NotEqual("0", user);
        Assert.NotEqual("root", user);
        // The manifests run as the image's user.
        Assert.Contains($"runAsUser: {user}", File.ReadAllText(Deploy("k8s/workers.yaml")));
        // What the build stage copies exists, and it publishes the program the entry point runs.
        foreach (var copy in lines.TakeWhile(l => l != stages[1]).Where(l => l.StartsWith("COPY ", StringComparison.Ordinal)))
        {
            foreach (var source in copy.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..^1])
            {
                var path = Path.Combine(TestPaths.RepositoryRoot, source.TrimEnd('/'));
                Assert.True(File.Exists(path) || Directory.Exists(path), $"COPY {source}: not in the repository");
            }
        }
        Assert.Contains(lines, l => l.Contains("dotnet publish src/DeepEM.Cli/DeepEM.Cli.csproj -c Release -o /app", StringComparison.Ordinal));
        Assert.Contains("ENTRYPOINT [\"dotnet\", \"/app/deepem.dll\"]", runtime);
        Assert.Contains("EXPOSE 4053 9184", runtime);
        Assert.True(File.Exists(Path.Combine(TestPaths.RepositoryRoot, ".dockerignore")));
    }

    // ---- systemd ----

    [Fact]
    public void The_systemd_unit_runs_a_node_that_leaves_gracefully_on_stop()
    {
        var sections = new Dictionary<string, Dictionary<string, string>>();
        Dictionary<string, string>? current = null;
        foreach (var raw in File.ReadAllLines(Deploy("systemd/deepem-node.service")))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            if (line.StartsWith('[')) sections[line.Trim('[', ']')] = current = [];
            else
            {
                var eq = line.IndexOf('=');
                Assert.True(current is not null && eq > 0, $"not a key=value line in a section: {line}");
                current![line[..eq]] = line[(eq + 1)..];
            }
        }
        Assert.Equal(["Install", "Service", "Unit"], sections.Keys.Order());
        var service = sections["Service"];
        Assert.Equal("SIGTERM", service["KillSignal"]);
        Assert.True(TimeSpan.FromSeconds(int.Parse(service["TimeoutStopSec"].TrimEnd('s'))) >= TimeSpan.FromSeconds(300));
        Assert.Equal("on-failure", service["Restart"]);
        Assert.NotEqual("root", service["User"]);
        Assert.Equal("multi-user.target", sections["Install"]["WantedBy"]);

        // ExecStart with the environment file's values parses as a real `deepem node` command line.
        var env = File.ReadAllLines(Deploy("systemd/deepem-node.env")).Where(l => l.Contains('=') && !l.StartsWith('#'))
            .ToDictionary(l => l[..l.IndexOf('=')], l => l[(l.IndexOf('=') + 1)..]);
        var exec = service["ExecStart"];
        foreach (var (key, value) in env) exec = exec.Replace("${" + key + "}", value);
        Assert.DoesNotContain("${", exec);
        var words = exec.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["/usr/bin/dotnet", "/opt/deepem/deepem.dll", "node"], words[..3]);
        var parse = NodeCommand.Create().Parse(words[3..]);
        Assert.True(parse.Errors.Count == 0, string.Join("; ", parse.Errors.Select(e => e.Message)));
        ConfigurationFactory.ParseString(File.ReadAllText(Deploy("systemd/site.conf")));
    }
}
