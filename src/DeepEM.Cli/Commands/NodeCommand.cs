using System.CommandLine;
using System.Runtime.InteropServices;
using DeepEM.Cli.Infrastructure;
using DeepEM.Cluster.Nodes;
using DeepEM.Cluster;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.Backends.Ilgpu;

namespace DeepEM.Cli.Commands;

/// <summary>
/// <c>deepem node</c>: one node of the picking cluster, until SIGTERM or Ctrl-C, which leave the cluster
/// gracefully (slots finish their micrographs, which then go elsewhere). The first node, without seed nodes,
/// forms the cluster; the others name it (or any member) in --seed-nodes.
/// </summary>
public static class NodeCommand
{
    public static Command Create()
    {
        var seeds = new Option<string?>("--seed-nodes") { Description = "host:port,... of nodes to join (default: form a new cluster)" };
        var host = new Option<string>("--host") { Description = "address to bind and be reached at", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "port to bind (0: any free port)", DefaultValueFactory = _ => 0 };
        var roles = new Option<string>("--roles") { Description = "worker, coordinator or both", DefaultValueFactory = _ => "worker,coordinator" };
        var config = new Option<string[]>("--config") { Description = "HOCON files over the built-in configuration", AllowMultipleArgumentsPerToken = false };
        var state = new Option<string?>("--state") { Description = "coordinator state folder: journal and model copies (default ~/.local/state/deepem)" };
        var device = new Option<string>("--device") { Description = "worker compute device: auto (the first GPU, else the CPU), cpu, gpu (every GPU, a picking lane each) or ilgpu-cpu", DefaultValueFactory = _ => "auto" };
        var gpus = new Option<string?>("--gpus") { Description = "the GPUs a worker picks on, numbered as the CUDA driver numbers them (0,2); default with --device gpu: all" };
        var log = new Option<string?>("--log") { Description = "write the node's log to this file (default: standard error)" };
        var logFormat = new Option<string?>("--log-format") { Description = "text (logfmt, the default) or json: one object per line" };
        logFormat.AcceptOnlyFromAmong("text", "json");
        var bindHost = new Option<string?>("--bind-host") { Description = "address to listen on when it differs from --host (a container: its pod IP); default --host" };
        var metricsPort = new Option<int?>("--metrics-port") { Description = "serve /metrics (Prometheus) and /health/live, /health/ready on this port (0: any free port, named in the start line; default: off)" };
        var command = new Command("node", "Run one cluster node until stopped (SIGTERM leaves the cluster gracefully).")
        {
            seeds, host, port, roles, config, state, device, gpus, log, logFormat, bindHost, metricsPort,
        };
        command.SetAction(parse => Terminal.Run(() =>
        {
            var roleList = (parse.GetValue(roles) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct().ToList();
            if (roleList.Count == 0 || roleList.Any(r => r is not (Roles.Worker or Roles.Coordinator)))
            {
                throw new UsageException($"--roles {parse.GetValue(roles)}: worker, coordinator or worker,coordinator");
            }
            var portValue = parse.GetValue(port);
            if (portValue is < 0 or > 65535) throw new UsageException($"--port {portValue}: 0..65535");
            if (parse.GetValue(metricsPort) is { } mp && mp is < 0 or > 65535) throw new UsageException($"--metrics-port {mp}: 0..65535");
            var seedList = (parse.GetValue(seeds) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
            foreach (var seed in seedList)
            {
                try
                {
                    NodeOptions.CheckAddress(seed);
                }
                catch (ArgumentException e)
                {
                    throw new UsageException($"--seed-nodes: {e.Message}");
                }
            }
            var deviceChoice = PickCommand.ParseDevice(parse.GetValue(device)!);
            var gpuList = ResolveGpus(deviceChoice, parse.GetValue(gpus));
            var options = new NodeOptions
            {
                Host = parse.GetValue(host)!,
                Port = portValue,
                SeedNodes = seedList,
                Roles = roleList,
                ConfigFiles = parse.GetValue(config) ?? [],
                StateDir = parse.GetValue(state) ?? DefaultStateDir(),
                // GPUs named with --gpus are used as GPUs (a lane whose GPU fails is an error, not a quiet CPU lane).
                Device = gpuList is null ? deviceChoice : DeviceChoice.Gpu,
                Gpus = gpuList,
                LogFile = parse.GetValue(log),
                LogFormat = parse.GetValue(logFormat),
                BindHost = parse.GetValue(bindHost),
                MetricsPort = parse.GetValue(metricsPort),
                LogLevel = Terminal.Verbose ? "DEBUG" : "INFO",
            };
            ClusterNode node;
            try
            {
                node = ClusterNode.StartAsync(options).GetAwaiter().GetResult();
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }
            catch (PortInUseException e)
            {
                // The machine, not the command line, is wrong: a fatal error in one line (docs/cli.md's exit code 1).
                Terminal.Error(e.Message);
                return ExitCodes.Fatal;
            }
            var leaving = 0;
            void Leave()
            {
                if (Interlocked.Exchange(ref leaving, 1) == 0) _ = node.LeaveAsync();
            }
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; Leave(); });
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; Leave(); });
            var metrics = node.EndpointUrl is { } url ? $"; metrics at {url}/metrics" : "";
            Console.Out.WriteLine($"node {node.HostPort} is up (roles {string.Join(", ", roleList)}){metrics}; SIGTERM or Ctrl-C leaves the cluster");
            Console.Out.Flush();
            node.System.WhenTerminated.GetAwaiter().GetResult();
            node.DisposeAsync().AsTask().GetAwaiter().GetResult();
            if (leaving == 0)
            {
                // Stopped without being asked: the split-brain resolver downed this node (it was on the minority side).
                Terminal.Error($"node {node.HostPort} was removed from the cluster (downed); it stopped");
                return ExitCodes.Fatal;
            }
            Console.Out.WriteLine($"node {node.HostPort} left the cluster");
            return ExitCodes.Success;
        }));
        return command;
    }

    public static string DefaultStateDir()
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_STATE_HOME");
        var root = string.IsNullOrEmpty(xdg) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state") : xdg;
        return Path.Combine(root, "deepem");
    }

    /// <summary><c>--device gpu</c> and <c>--gpus</c> into the GPUs the worker picks on, one lane each (a usage error names what is missing).</summary>
    internal static IReadOnlyList<int>? ResolveGpus(DeviceChoice device, string? gpus)
    {
        List<int>? requested = null;
        if (!string.IsNullOrWhiteSpace(gpus))
        {
            requested = [];
            foreach (var part in gpus.Split(',', StringSplitOptions.TrimEntries))
            {
                if (!int.TryParse(part, out var g) || g < 0) throw new UsageException($"--gpus {gpus}: GPU numbers, comma-separated (0,2)");
                requested.Add(g);
            }
        }
        try
        {
            return NodeOptions.ResolveGpus(device, requested, () => IlgpuBackend.GpuNames().Count);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
    }
}
