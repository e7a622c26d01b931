using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Cluster.Tools.Singleton;
using Akka.Configuration;
using Akka.Event;
using DeepEM.Cluster.Campaigns;
using DeepEM.Cluster.Internal;
using DeepEM.Cluster.Diagnostics;
using DeepEM.Cluster.Blobs;
using DeepEM.Cluster.Picking;
using DeepEM.Cluster.Protocol;
using DeepEM.Cluster.Storage;
using DeepEM.Cluster.Training;

namespace DeepEM.Cluster.Nodes;

/// <summary>
/// One node of the picking cluster, built from hocon/ (embedded in this assembly), the site's --config files and
/// the command-line flags, in that order of precedence from last to first. What a node starts depends on its roles:
/// every node has a proxy to the campaign coordinator singleton; a worker node hosts picking slots (the shard
/// region) and a compute backend; a coordinator node may host the singleton and keeps the journal. The embedded
/// default of <c>deepem pick</c> is one such node with both roles, in the same process. Training works alike: a
/// proxy to the training coordinator singleton on every node, a gradient worker on each worker node.
/// </summary>
public sealed class ClusterNode : IAsyncDisposable
{
    private readonly PipelineMicrographPicking? _picking;

    private ClusterNode(ActorSystem system, IActorRef coordinator, IActorRef training, IActorRef? slots, BlobReplicas? replicas, PipelineMicrographPicking? picking,
        CoordinatorSettings settings, NodeHttpEndpoint? endpoint)
    {
        Endpoint = endpoint;
        System = system;
        Coordinator = coordinator;
        Training = training;
        Slots = slots;
        Replicas = replicas;
        _picking = picking;
        Settings = settings;
    }

    public ActorSystem System { get; }

    public Akka.Cluster.Cluster Cluster => Akka.Cluster.Cluster.Get(System);

    public Address Address => Cluster.SelfAddress;

    /// <summary><c>host:port</c> of this node (docs/cli.md's ADDR).</summary>
    public string HostPort => $"{Address.Host}:{Address.Port}";

    /// <summary>The proxy to the campaign coordinator singleton, wherever it runs.</summary>
    public IActorRef Coordinator { get; }

    /// <summary>The proxy to the training coordinator singleton, wherever it runs.</summary>
    public IActorRef Training { get; }

    /// <summary>The picking slots' shard region (a proxy on nodes that are not workers).</summary>
    public IActorRef? Slots { get; }

    internal BlobReplicas? Replicas { get; }

    internal CoordinatorSettings Settings { get; }

    /// <summary>The /metrics and /health endpoint, where one is configured.</summary>
    internal NodeHttpEndpoint? Endpoint { get; }

    /// <summary>Where the endpoint answers (<c>http://host:port</c>), or null.</summary>
    public string? EndpointUrl => Endpoint?.Url;

    /// <summary>The configuration a node with these options runs with (also for tests of the layering).</summary>
    public static Config BuildConfig(NodeOptions options)
    {
        var config = ConfigurationFactory.Empty;
        foreach (var file in options.ConfigFiles.Reverse())
        {
            if (!File.Exists(file)) throw new ArgumentException($"{file}: no such configuration file");
            config = config.WithFallback(ConfigurationFactory.ParseString(File.ReadAllText(file)));
        }
        if (options.ExtraConfig is { } extra) config = ConfigurationFactory.ParseString(extra).WithFallback(config);
        if (options.Embedded) config = config.WithFallback(Embedded("hocon.embedded.conf"));
        foreach (var role in options.Roles.Where(r => r is Roles.Worker or Roles.Coordinator)) config = config.WithFallback(Embedded($"hocon.{role}.conf"));
        config = config.WithFallback(Embedded("hocon.base.conf")).WithFallback(Embedded("DeepEM.Cluster.reference.conf"))
            // The modules' own defaults are not loaded on their own when a system is built from a Config.
            .WithFallback(ClusterSharding.DefaultConfig())
            .WithFallback(Akka.DistributedData.DistributedData.DefaultConfig())
            .WithFallback(ClusterSingleton.DefaultConfig())
            .WithFallback(Akka.Persistence.Sql.SqlPersistence.DefaultConfiguration);

        // A worker with several lanes (GPUs) says so in a role of its own: the coordinator opens slots in proportion.
        var lanes = options.Roles.Contains(Roles.Worker) && options.Lanes > 1 ? [Roles.Lanes(options.Lanes)] : Array.Empty<string>();
        var roles = string.Join(", ", options.Roles.Concat(lanes).Select(r => $"\"{r}\""));
        var flags = $$"""
            akka.remote.dot-netty.tcp.hostname = "{{options.Host}}"
            akka.remote.dot-netty.tcp.port = {{options.Port}}
            akka.cluster.roles = [{{roles}}]
            akka.loglevel = {{options.LogLevel}}
            deepem.log.file = "{{Escape(options.LogFile ?? "")}}"
            """;
        if (options.BindHost is { } bind)
        {
            // Listen on the bind address; tell the others the host name (Akka's public-hostname).
            flags += $"\nakka.remote.dot-netty.tcp.hostname = \"{Escape(bind)}\"\nakka.remote.dot-netty.tcp.public-hostname = \"{Escape(options.Host)}\"";
        }
        if (options.LogFormat is { } format) flags += $"\ndeepem.log.format = \"{Escape(format)}\"";
        if (options.MetricsPort is { } metrics) flags += $"\ndeepem.metrics.port = {metrics}";
        config = ConfigurationFactory.ParseString(flags).WithFallback(config);
        if (options.Roles.Contains(Roles.Coordinator))
        {
            // The embedded journal: SQLite in the state folder, unless the site configured a database of its own.
            var state = options.StateDir ?? throw new ArgumentException("a coordinator node needs a state folder");
            Directory.CreateDirectory(state);
            var database = Escape(StateJournal.PathIn(state));
            var connections = "";
            var tablesByNode = new List<string>();
            foreach (var store in new[] { "journal", "snapshot-store" })
            {
                if (config.GetString($"akka.persistence.{store}.sql.connection-string", "").Length > 0) continue;
                var provider = config.GetString($"akka.persistence.{store}.sql.provider-name", "");
                if (!provider.StartsWith("SQLite", StringComparison.OrdinalIgnoreCase))
                {
                    // A database of the site's (hocon/production.conf): its connection string from the environment, so that
                    // the password need not be in a file; without one, say so now rather than at the first write.
                    var fromEnvironment = Environment.GetEnvironmentVariable("DEEPEM_JOURNAL") ?? "";
                    if (fromEnvironment.Length == 0)
                    {
                        throw new ArgumentException($"akka.persistence.{store}.sql: provider {provider} has no connection-string (hocon/production.conf reads it from DEEPEM_JOURNAL)");
                    }
                    connections += $"akka.persistence.{store}.sql.connection-string = \"{Escape(fromEnvironment)}\"\n";
                    continue;
                }
                connections += $"akka.persistence.{store}.sql.connection-string = \"{StateJournal.ConnectionString(database)}\"\n";
                if (!options.ReadOnlyCoordinator && provider.Equals("SQLite.MS", StringComparison.OrdinalIgnoreCase)
                    && config.GetBoolean($"akka.persistence.{store}.sql.auto-initialize", false) && StateJournal.HasDefaultTables(config, store))
                {
                    // Its tables are the node's to create (StateJournal says why), before the plugin opens the file.
                    connections += $"akka.persistence.{store}.sql.auto-initialize = off\n";
                    tablesByNode.Add(store);
                }
            }
            connections += $"{TablesByNodeKey} = [{string.Join(", ", tablesByNode.Select(t => $"\"{t}\""))}]\n";
            config = ConfigurationFactory.ParseString(connections).WithFallback(config);
        }
        return config;
    }

    /// <summary>The stores (journal, snapshot-store) whose tables in the state folder's SQLite file the node creates.</summary>
    private const string TablesByNodeKey = "deepem.state-journal.tables-by-node";

    /// <summary>
    /// Whether journal and snapshot store are the state folder's SQLite file and it does not exist yet (asked before
    /// anything opens it): then there is nothing to recover, and no snapshot to look for.
    /// </summary>
    /// <remarks>
    /// Only for the embedded node, the one that gains by it and the only one that is sure to be alone with its state
    /// folder: nodes started together on one new folder would each see it new, and the one that got the coordinator later
    /// would miss the snapshots another had saved meanwhile.
    /// </remarks>
    internal static FreshJournal? FreshStateJournal(Config config, NodeOptions options)
    {
        if (!options.Embedded || options.StateDir is not { } stateDir) return FreshJournal.Unknown;
        var file = StateJournal.PathIn(stateDir);
        var ours = new[] { "journal", "snapshot-store" }.All(store => config.GetString($"akka.persistence.{store}.sql.connection-string", "") == StateJournal.ConnectionString(file));
        return ours && !File.Exists(file) ? new FreshJournal() : FreshJournal.Unknown;
    }

    private static string Escape(string text) => text.Replace("\\", "\\\\").Replace("\"", "\\\"");

    /// <summary>hocon/test.conf, for tests to pass as <see cref="NodeOptions.ExtraConfig"/>.</summary>
    public static string TestConfiguration => EmbeddedText("hocon.test.conf");

    private static Config Embedded(string name) => ConfigurationFactory.ParseString(EmbeddedText(name));

    private static string EmbeddedText(string name)
    {
        using var stream = typeof(ClusterNode).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"resource {name} is missing from {typeof(ClusterNode).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Starts the node, joins the cluster (or forms one) and waits until it is a member.</summary>
    public static async Task<ClusterNode> StartAsync(NodeOptions options, CancellationToken cancel = default)
    {
        // Before anything else: the pick runs on the cores that forming the cluster leaves idle.
        var ahead = options.PickAhead is { } pickAhead && options.Roles.Contains(Roles.Worker)
            ? AheadPicking.Start(pickAhead, options.Device, options.Gpus is { Count: > 0 } gpus ? gpus[0] : null)
            : null;
        Config config;
        CoordinatorSettings settings;
        List<Address> seeds;
        // The members a coordinator that would found the cluster asks first (KnownMembers says why); read once, before
        // the actor system starts, since they also set how long it asks.
        IReadOnlyList<Address> known = [];
        ActorSystem system;
        try
        {
            config = BuildConfig(options);
            settings = CoordinatorSettings.From(config) with { ReadOnly = options.ReadOnlyCoordinator };
            var tls = TlsSettings.From(config);
            seeds = options.SeedNodes.Select(s => Address.Parse(NodeOptions.ToAkkaAddress(s, tls.Protocol))).ToList();
            if (tls.Enabled) config = ConfigurationFactory.ParseString("akka.remote.dot-netty.tcp.enable-ssl = on").WithFallback(config);
            if (AsksKnownMembers(options))
            {
                known = KnownMembers.Read(options.StateDir!);
                var self = new Address(tls.Protocol, NodeOptions.SystemName, options.Host, options.Port);
                config = KnownMembers.WithAskingTimeout(config, wouldFound: seeds.Count == 0 || seeds[0] == self, known);
            }
            PortCheck.EnsureFree(options.BindHost ?? options.Host, options.Port);
            var setup = BootstrapSetup.Create().WithConfig(config);
            // Not ActorSystem.Create(name, setup): it reads the application's .config file for an "akka" section even when
            // it is given a Config (its fallback is evaluated first), and starting System.Configuration for that took 35 ms
            // of every start (docs/benchmarks.md). In Akka 1.5.73 this is all it does next, with the same Config and setup:
            // check again when Akka is upgraded.
            var created = new Akka.Actor.Internal.ActorSystemImpl(NodeOptions.SystemName, config, tls.Enabled ? setup.And(tls.Setup()) : Akka.Actor.Setup.ActorSystemSetup.Create(setup));
            created.Start();
            system = created;
        }
        catch
        {
            Abandon(ahead);
            throw;
        }
        NodeHttpEndpoint? endpoint = null;
        PipelineMicrographPicking? picking = null;
        FreshJournal? freshJournal = FreshJournal.Unknown;
        try
        {
            if (options.Roles.Contains(Roles.Coordinator))
            {
                // The journal and snapshot store start on first use, and opening them (the database, its tables, the
                // plugin's first queries) takes most of a second: start them now, while the cluster forms, rather than
                // when the coordinator singletons first recover.
                freshJournal = FreshStateJournal(config, options);
                var tables = config.GetStringList(TablesByNodeKey) ?? [];
                StateJournal.EnsureTables(StateJournal.PathIn(options.StateDir!), tables.Contains("journal"), tables.Contains("snapshot-store"));
                var persistence = Akka.Persistence.Persistence.Instance.Apply(system);
                persistence.JournalFor(null);
                persistence.SnapshotStoreFor(null);
            }
            var cluster = Akka.Cluster.Cluster.Get(system);
            var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            cluster.RegisterOnMemberUp(() => up.TrySetResult());
            // A client hosts nothing, so it may talk to the cluster as soon as it is WeaklyUp: a member that is unreachable
            // but not yet downed (a node just killed) holds every joiner at Joining until the resolver decides, and a
            // client must not wait out stable-after for that.
            if (options.Roles.All(r => r == Roles.Client)) system.ActorOf(Props.Create(() => new SelfWeaklyUp(up)), "self-weakly-up");

            // The embedded node is the whole cluster: it joins itself at once, and the region, the singletons and the
            // workers start while it does (they wait for the member to be Up in any case). Half a second sooner.
            if (options.Embedded) cluster.Join(cluster.SelfAddress);

            var coordinatorProxy = system.ActorOf(ClusterSingletonProxy.Props($"/user/{ActorNames.CampaignCoordinator}",
                ClusterSingletonProxySettings.Create(system).WithRole(Roles.Coordinator)), $"{ActorNames.CampaignCoordinator}-proxy");

            var training = system.ActorOf(ClusterSingletonProxy.Props($"/user/{ActorNames.TrainingCoordinator}",
                ClusterSingletonProxySettings.Create(system).WithRole(Roles.Coordinator)), $"{ActorNames.TrainingCoordinator}-proxy");
            var trainingSettings = TrainingSettings.From(config);

            IActorRef? slots = null;
            BlobReplicas? replicas = null;
            var sharding = ClusterSharding.Get(system);
            if (options.Roles.Contains(Roles.Worker))
            {
                replicas = new BlobReplicas(coordinatorProxy, TimeSpan.FromSeconds(30));
                picking = new PipelineMicrographPicking(replicas, options.Device, options.Gpus, ahead, cpuLanes: settings.SlotsPerWorker);
                IMicrographPicking engine = options.WrapPicking is { } wrap ? wrap(picking) : picking;
                var writer = new FolderPickWriter(settings.SlotsPerWorker * options.Lanes);
                slots = await sharding.StartAsync(SlotSharding.TypeName, _ => PickSlot.Props(engine, writer, coordinatorProxy),
                    ClusterShardingSettings.Create(system).WithRole(Roles.Worker), new SlotSharding(), new LaneWeightedAllocation(), StopSlot.Instance);
                var address = Akka.Cluster.Cluster.Get(system).SelfAddress;
                system.ActorOf(GradientWorker.Props(training, new BlobReplicas(training, TimeSpan.FromSeconds(30)), options.Device,
                    $"{address.Host}:{address.Port}", trainingSettings), ActorNames.GradientWorker);
                system.ActorOf(Classification.ClassificationWorker.Props($"{address.Host}:{address.Port}"), ActorNames.ClassificationWorker);
            }
            if (options.Roles.Contains(Roles.Coordinator))
            {
                slots ??= await sharding.StartProxyAsync(SlotSharding.TypeName, Roles.Worker, new SlotSharding());
                var models = new FolderModelStore(Path.Combine(options.StateDir!, "models"));
                var outputs = new FolderCampaignOutputFactory();
                system.ActorOf(ClusterSingletonManager.Props(CampaignCoordinator.Props(settings, slots, outputs, models, freshJournal), CampaignCoordinator.Stop.Instance,
                    ClusterSingletonManagerSettings.Create(system).WithRole(Roles.Coordinator)), ActorNames.CampaignCoordinator);
                if (!options.ReadOnlyCoordinator)
                {
                    var trainingState = Path.Combine(options.StateDir!, "training");
                    system.ActorOf(ClusterSingletonManager.Props(
                        TrainingCoordinator.Props(trainingSettings, new FolderTrainingStore(trainingState, trainingSettings.MessageBytes), options.Device),
                        TrainingCoordinator.Stop.Instance, ClusterSingletonManagerSettings.Create(system).WithRole(Roles.Coordinator)), ActorNames.TrainingCoordinator);
                }
            }

            // Before joining, so that a readiness probe sees "joining" rather than nothing.
            endpoint = NodeHttpEndpoint.StartIfConfigured(system, options.BindHost ?? options.Host);

            // The embedded node is the whole cluster: there is nobody it saw before to ask (its port is a new one each time).
            if (AsksKnownMembers(options))
            {
                // A coordinator that would found the cluster first asks the members it last saw (KnownMembers says why).
                seeds = KnownMembers.Seeds(seeds, cluster.SelfAddress, known);
                if (known.Count > 0 && seeds[0] == cluster.SelfAddress)
                {
                    system.Log.Info("asking {0} members seen before ({1}) before forming a cluster of its own", known.Count, string.Join(", ", known.Take(8)));
                }
                system.ActorOf(KnownMembers.Recorder.Props(options.StateDir!), "known-members");
            }
            if (!options.Embedded)
            {
                if (seeds.Count == 0) seeds.Add(cluster.SelfAddress);
                cluster.JoinSeedNodes(seeds);
            }

            var joined = await Task.WhenAny(up.Task, Task.Delay(settings.JoinTimeout, cancel));
            if (joined != up.Task)
            {
                throw new TimeoutException($"could not join the cluster at {string.Join(", ", seeds.Select(a => $"{a.Host}:{a.Port}"))} within {settings.JoinTimeout.TotalSeconds:0} s");
            }
            return new ClusterNode(system, coordinatorProxy, training, slots, replicas, picking, settings, endpoint);
        }
        catch
        {
            if (endpoint is not null) await endpoint.DisposeAsync();
            await system.Terminate();
            // The picking engine frees its lanes' pickers (it waits for the pick ahead); without one, the pick ahead's own.
            if (picking is not null) picking.Dispose();
            else Abandon(ahead);
            throw;
        }
    }

    /// <summary>A coordinator node with a state folder of its own: it records the members it sees and asks them when restarted.</summary>
    private static bool AsksKnownMembers(NodeOptions options) =>
        options.Roles.Contains(Roles.Coordinator) && !options.ReadOnlyCoordinator && !options.Embedded;

    /// <summary>A pick ahead that no node will take: its picker is freed when it is done.</summary>
    private static void Abandon(AheadPicking? ahead) =>
        ahead?.Done.ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully) t.Result.Picker?.Dispose();
        }, TaskContinuationOptions.ExecuteSynchronously);

    /// <summary>Leaves the cluster gracefully (slots finish their micrographs and move) and stops the node.</summary>
    public async Task LeaveAsync()
    {
        await CoordinatedShutdown.Get(System).Run(CoordinatedShutdown.ClusterLeavingReason.Instance);
        await System.WhenTerminated;
    }

    public async ValueTask DisposeAsync()
    {
        if (!System.WhenTerminated.IsCompleted) await LeaveAsync();
        if (Endpoint is not null) await Endpoint.DisposeAsync();
        _picking?.Dispose();
    }
}

/// <summary>Completes when this member becomes WeaklyUp (a client's "joined"; see where it is started).</summary>
internal sealed class SelfWeaklyUp : ReceiveActor
{
    public SelfWeaklyUp(TaskCompletionSource joined)
    {
        var cluster = Akka.Cluster.Cluster.Get(Context.System);
        Receive<Akka.Cluster.ClusterEvent.MemberWeaklyUp>(m =>
        {
            if (m.Member.Address == cluster.SelfAddress)
            {
                joined.TrySetResult();
                Context.Stop(Self);
            }
        });
        Receive<Akka.Cluster.ClusterEvent.CurrentClusterState>(_ => { });
    }

    protected override void PreStart() =>
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, Akka.Cluster.ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(Akka.Cluster.ClusterEvent.MemberWeaklyUp));

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
}
