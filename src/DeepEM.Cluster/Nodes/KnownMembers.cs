using Akka.Actor;
using Akka.Configuration;
using Akka.Cluster;
using Akka.Event;
using DeepEM.Formats.IO;

namespace DeepEM.Cluster.Nodes;

/// <summary>
/// The members a coordinator node last saw, kept in its state folder (<c>cluster-members</c>, one address a line), so
/// that the node, restarted, rejoins the cluster they still form instead of founding one of its own.
/// <para>
/// Why this rule rather than a discovery service: every deployment starts the coordinator as the first of its seed
/// nodes (its own address, or nothing). Akka lets the first seed form a new cluster when no other seed answers within
/// <c>seed-node-timeout</c>; a restarted coordinator that knew only itself did so at once, and the workers, still a
/// cluster without it, were never found again. Listing the members it saw after its own address makes Akka's own join
/// rule do the right thing: if any of them answers, the node joins their cluster; only if none does (the whole cluster
/// is gone) does it form a new one, which the workers, whose seed it is, then join. This needs no extra port, contact
/// point list or API access, and works the same by hand, with systemd, Slurm and Kubernetes (the coordinator's state
/// lives on its own volume there). Nodes that are not first seeds never form a cluster of their own, so they cannot split.
/// </para>
/// </summary>
internal static class KnownMembers
{
    public const string FileName = "cluster-members";

    /// <summary>The addresses recorded in <paramref name="stateDir"/>; none when there is no record or it cannot be read.</summary>
    public static IReadOnlyList<Address> Read(string stateDir)
    {
        var path = Path.Combine(stateDir, FileName);
        try
        {
            if (!File.Exists(path)) return [];
            var addresses = new List<Address>();
            foreach (var line in File.ReadLines(path))
            {
                var text = line.Trim();
                if (text.Length == 0 || text.StartsWith('#')) continue;
                try
                {
                    addresses.Add(Address.Parse(text));
                }
                catch (UriFormatException)
                {
                    // A line that is not an address is skipped: the record only speeds up finding the cluster.
                }
            }
            return addresses;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    public static void Write(string stateDir, IEnumerable<Address> members) =>
        AtomicFile.WriteAllText(Path.Combine(stateDir, FileName),
            "# The cluster members this coordinator node last saw; restarted, it asks them before it forms a cluster of its own.\n" +
            string.Concat(members.Select(m => m + "\n")));

    /// <summary>
    /// How long a node that would found the cluster asks the members it saw before (Akka's <c>seed-node-timeout</c>, 5 s
    /// by default). Under load (CI's cluster bench on two cores, with two trainings running beside it) the workers'
    /// answers to a restarted coordinator took longer than 5 s, and the restarted coordinator formed a cluster of its own beside them, which no
    /// status reached again. Members that are alive but in no cluster answer at once (InitJoinNack, and the node forms
    /// the cluster without waiting); only members that are gone cost the whole wait, once, when the cluster is gone.
    /// </summary>
    public static readonly TimeSpan AskingTimeout = TimeSpan.FromSeconds(20);

    /// <summary>
    /// <paramref name="config"/> with <c>seed-node-timeout</c> at least <see cref="AskingTimeout"/> when this node would
    /// found the cluster and has members to ask; else as it is (a node that joins others retries every
    /// <c>seed-node-timeout</c>, which stays short). A longer timeout set by the site is kept.
    /// </summary>
    public static Config WithAskingTimeout(Config config, bool wouldFound, IReadOnlyList<Address> known)
    {
        if (!wouldFound || known.Count == 0 || config.GetTimeSpan("akka.cluster.seed-node-timeout") >= AskingTimeout) return config;
        return ConfigurationFactory.ParseString($"akka.cluster.seed-node-timeout = {AskingTimeout.TotalSeconds:0}s").WithFallback(config);
    }

    /// <summary>
    /// The seed nodes a node joins with: as given, except that a node that would found the cluster (no seeds, or itself
    /// first) also lists the members it last saw after itself.
    /// </summary>
    public static List<Address> Seeds(IReadOnlyList<Address> given, Address self, IReadOnlyList<Address> known)
    {
        var seeds = given.ToList();
        if (seeds.Count > 0 && seeds[0] != self) return seeds;
        if (seeds.Count == 0) seeds.Add(self);
        foreach (var member in known)
        {
            if (member != self && !seeds.Contains(member)) seeds.Add(member);
        }
        return seeds;
    }

    /// <summary>
    /// Follows the worker and coordinator members that are up, not this node, from cluster events, and hands the set on
    /// each change: to the record in a state folder (<see cref="Props(string)"/>) or to whoever asks (a client joining again).
    /// </summary>
    internal sealed class Recorder : ReceiveActor
    {
        private readonly HashSet<Address> _members = [];

        public static Props Props(string stateDir) => Props(members =>
        {
            try
            {
                Write(stateDir, members);
                return null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return $"the cluster's members could not be recorded in {stateDir}: {e.Message}";
            }
        });

        /// <param name="changed">Given the members in address order; returns a warning to log, or null.</param>
        public static Props Props(Func<IReadOnlyList<Address>, string?> changed) => Akka.Actor.Props.Create(() => new Recorder(changed));

        public Recorder(Func<IReadOnlyList<Address>, string?> changed)
        {
            var cluster = Akka.Cluster.Cluster.Get(Context.System);
            var self = cluster.SelfAddress;
            void Save()
            {
                if (changed(_members.OrderBy(a => a.ToString(), StringComparer.Ordinal).ToList()) is { } warning) Context.GetLogger().Warning(warning);
            }
            Receive<ClusterEvent.MemberUp>(m =>
            {
                if (m.Member.Address != self && (m.Member.HasRole(Roles.Worker) || m.Member.HasRole(Roles.Coordinator)) && _members.Add(m.Member.Address)) Save();
            });
            Receive<ClusterEvent.MemberRemoved>(m =>
            {
                if (_members.Remove(m.Member.Address)) Save();
            });
            Receive<ClusterEvent.IMemberEvent>(_ => { });
            // A node that leaves or is downed hears every member removed as its cluster shuts down (Akka publishes an
            // empty membership last). Those members are not gone: kept, the record lets this node, restarted, find them.
            Receive<ClusterEvent.ClusterShuttingDown>(_ => Become(() => ReceiveAny(_ => { })));
            cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.ClusterShuttingDown));
        }

        protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
    }
}
