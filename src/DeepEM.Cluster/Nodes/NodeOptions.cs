using DeepEM.Numerics.Backends;

namespace DeepEM.Cluster.Nodes;

/// <summary>How to start one node: the <c>deepem node</c> flags, which override the HOCON files.</summary>
public sealed record NodeOptions
{
    /// <summary>The address to bind and to be known by; loopback unless a deployment says otherwise.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>The address remoting listens on, where it differs from <see cref="Host"/> (in a pod: the pod's IP, while
    /// other nodes know it by its stable DNS name); null: <see cref="Host"/>.</summary>
    public string? BindHost { get; init; }

    /// <summary>0: any free port.</summary>
    public int Port { get; init; }

    /// <summary><c>host:port</c> or full <c>akka.tcp://</c> addresses; empty: this node starts a cluster of its own.</summary>
    public IReadOnlyList<string> SeedNodes { get; init; } = [];

    public IReadOnlyList<string> Roles { get; init; } = [Cluster.Roles.Worker, Cluster.Roles.Coordinator];

    /// <summary>HOCON files of the site, over hocon/ (flags override them in turn).</summary>
    public IReadOnlyList<string> ConfigFiles { get; init; } = [];

    /// <summary>HOCON text over the files (tests use it for hocon/test.conf and their own settings).</summary>
    public string? ExtraConfig { get; init; }

    /// <summary>Where a coordinator keeps its journal (SQLite, unless configured otherwise) and model copies.</summary>
    public string? StateDir { get; init; }

    /// <summary>The compute device of a worker node.</summary>
    public DeviceChoice Device { get; init; } = DeviceChoice.Auto;

    /// <summary>
    /// The GPUs a worker node picks on, one picking lane each (<see cref="ResolveGpus"/>); null: one lane on
    /// <see cref="Device"/> (the first GPU, or the CPU).
    /// </summary>
    public IReadOnlyList<int>? Gpus { get; init; }

    /// <summary>Picking lanes of a worker: one per GPU, else one (the managed backend already uses every core).</summary>
    public int Lanes => Gpus is { Count: > 0 } g ? g.Count : 1;

    /// <summary>
    /// <c>--device gpu</c> picks on every GPU of the machine, <c>--gpus 0,2</c> on those; other devices on one lane. Errors
    /// (as <see cref="ArgumentException"/>) name what is missing: no GPU, a number the machine does not have, --gpus with
    /// a CPU device. The machine's GPUs are listed only when a GPU was asked for (the listing opens the drivers).
    /// </summary>
    public static IReadOnlyList<int>? ResolveGpus(DeviceChoice device, IReadOnlyList<int>? requested, Func<int> gpuCount)
    {
        if (requested is { Count: > 0 } && device is not (DeviceChoice.Gpu or DeviceChoice.Auto))
        {
            throw new ArgumentException($"--gpus picks on GPUs; --device {device.ToString().ToLowerInvariant()} does not use them");
        }
        if (requested is null or { Count: 0 } && device != DeviceChoice.Gpu) return null;
        var count = gpuCount();
        if (count == 0) throw new ArgumentException("--device gpu: no CUDA or OpenCL device was found");
        if (requested is not { Count: > 0 }) return Enumerable.Range(0, count).ToList();
        foreach (var g in requested)
        {
            if (g < 0 || g >= count) throw new ArgumentException($"--gpus: there is no GPU {g} (this machine has {count}: 0..{count - 1})");
        }
        if (requested.Distinct().Count() != requested.Count) throw new ArgumentException("--gpus: a GPU is listed twice");
        return requested;
    }

    /// <summary>Where the node's log goes; null: standard error.</summary>
    public string? LogFile { get; init; }

    /// <summary>text (logfmt) or json; null: the configuration's (text unless a --config file says otherwise).</summary>
    public string? LogFormat { get; init; }

    /// <summary>Port of the /metrics and /health endpoint; null: the configuration's (off unless a --config file says otherwise).</summary>
    public int? MetricsPort { get; init; }

    /// <summary>Akka log level: DEBUG, INFO, WARNING, ERROR.</summary>
    public string LogLevel { get; init; } = "INFO";

    /// <summary>
    /// Wraps the node's picking engine. For tests only: a node made slow (flow control) or one that holds its
    /// micrographs long enough to be cut off mid-campaign.
    /// </summary>
    internal Func<Picking.IMicrographPicking, Picking.IMicrographPicking>? WrapPicking { get; init; }

    /// <summary>
    /// The embedded one-node cluster of a <c>pick</c>, <c>train</c> or <c>classify</c> without --join: hocon/embedded.conf
    /// shortens the timers that only wait for other nodes.
    /// </summary>
    public bool Embedded { get; init; }

    /// <summary>
    /// A micrograph the worker may pick while the node starts (<see cref="Nodes.PickAhead"/>): the first of an embedded
    /// <c>pick</c>. Null: none.
    /// </summary>
    public PickAhead? PickAhead { get; init; }

    /// <summary>A coordinator that only reads its journal (see <see cref="Campaigns.CoordinatorSettings.ReadOnly"/>).</summary>
    public bool ReadOnlyCoordinator { get; init; }

    /// <summary>The ActorSystem name: every node of a cluster must share it.</summary>
    public const string SystemName = "deepem";

    /// <summary>Checks the form of an address (<c>host:port</c>, or a full akka.tcp:// or akka.ssl.tcp:// address); whether
    /// its scheme fits the node's TLS settings is checked when the node starts.</summary>
    public static void CheckAddress(string address) =>
        ToAkkaAddress(address, address.StartsWith("akka.ssl.tcp://", StringComparison.Ordinal) ? "akka.ssl.tcp" : "akka.tcp");

    /// <summary>A full address from <c>host:port</c> (docs/cli.md's ADDR), or the full address as given.</summary>
    /// <param name="protocol">akka.tcp, or akka.ssl.tcp for a cluster with TLS (<see cref="TlsSettings.Protocol"/>).</param>
    public static string ToAkkaAddress(string address, string protocol = "akka.tcp")
    {
        if (address.Contains("://", StringComparison.Ordinal))
        {
            // A node without TLS given an akka.ssl.tcp address (or the reverse) would retry it for ever, very fast.
            // Other schemes (a test's throttling transport, akka.trttl.tcp) are the transport's business.
            var ssl = address[..address.IndexOf("://", StringComparison.Ordinal)].EndsWith("ssl.tcp", StringComparison.Ordinal);
            if (ssl != (protocol == "akka.ssl.tcp"))
            {
                throw new ArgumentException($"'{address}' is not an {protocol}:// address: {(protocol == "akka.tcp" ? "this process has no TLS settings (deepem.tls)" : "this process uses TLS (deepem.tls)")}; give host:port");
            }
            return address;
        }
        var colon = address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(address[(colon + 1)..], out var port) || port is < 1 or > 65535)
        {
            throw new ArgumentException($"'{address}' is not host:port");
        }
        return $"{protocol}://{SystemName}@{address}";
    }
}
