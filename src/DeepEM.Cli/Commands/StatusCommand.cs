using System.CommandLine;
using System.Globalization;
using DeepEM.Cli.Infrastructure;
using DeepEM.Cli.Workflows;
using DeepEM.Cluster.Clients;
using DeepEM.Cluster.Nodes;
using DeepEM.Cluster;
using DeepEM.Cluster.Protocol;

namespace DeepEM.Cli.Commands;

/// <summary>
/// <c>deepem status</c>: every campaign the coordinator knows, running or past. With --join it asks the running
/// cluster; without, it reads a coordinator's journal (--state, or a pick output folder's .deepem) through a
/// read-only one-node coordinator: nothing is picked or written, even while another coordinator uses that journal.
/// </summary>
public static class StatusCommand
{
    public static Command Create()
    {
        var cluster = new ClientOptions("host:port of a cluster node (default: read a journal, see --state)");
        var state = new Option<string?>("--state") { Description = "without --join: a coordinator state folder, or a pick output folder (default ~/.local/state/deepem)" };
        var campaign = new Option<string?>("--campaign") { Description = "only this campaign" };
        var follow = new Option<bool>("--follow") { Description = "with --join: show running campaigns' progress (bars on a terminal) until they complete" };
        var command = new Command("status", "Progress of running and past campaigns.") { state, campaign, follow };
        foreach (var o in cluster.All) command.Options.Add(o);
        command.SetAction(parse => Terminal.Run(() =>
        {
            var address = cluster.JoinAddress(parse);
            cluster.RefuseWithoutJoin(parse);
            if (parse.GetValue(follow) && address is null) throw new UsageException("--follow needs --join: a journal read from disk does not move");
            NodeOptions options;
            if (address is not null)
            {
                options = cluster.ClientNode(parse, address);
            }
            else
            {
                var folder = parse.GetValue(state) ?? NodeCommand.DefaultStateDir();
                if (Directory.Exists(Path.Combine(folder, ".deepem"))) folder = Path.Combine(folder, ".deepem");
                if (!File.Exists(Path.Combine(folder, "journal.db")))
                {
                    Terminal.Error($"{folder}: no campaign journal here (give --state, or --join a running cluster)");
                    return ExitCodes.Fatal;
                }
                options = new NodeOptions { Roles = [Roles.Coordinator], StateDir = folder, LogFile = Path.Combine(folder, "status.log"), ReadOnlyCoordinator = true };
            }
            var node = ClusterNode.StartAsync(options).GetAwaiter().GetResult();
            try
            {
                var client = new CampaignClient(node);
                var only = parse.GetValue(campaign) ?? "";
                var campaigns = client.StatusAsync(only, TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
                if (campaigns.Count == 0) Console.Out.WriteLine("no campaigns");
                foreach (var c in campaigns) Print(c);
                if (parse.GetValue(follow)) Follow(client, only, campaigns).GetAwaiter().GetResult();
            }
            finally
            {
                node.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>Polls the coordinator each second and shows the running campaigns until every one has completed.</summary>
    private static async Task Follow(CampaignClient client, string only, IReadOnlyList<CampaignStatus> first)
    {
        var running = first.Where(c => !c.Complete).Select(c => c.CampaignId).ToHashSet(StringComparer.Ordinal);
        if (running.Count == 0)
        {
            Console.Out.WriteLine("nothing running to follow");
            return;
        }
        await using var progress = new ConsoleProgress(Console.Out, "micrographs");
        var failures = new HashSet<string>(StringComparer.Ordinal);
        var watched = new Dictionary<string, int>(StringComparer.Ordinal);
        var campaigns = first;
        while (true)
        {
            foreach (var c in campaigns.Where(c => running.Contains(c.CampaignId)))
            {
                progress.Report(c.CampaignId, $"campaign {c.CampaignId}", c.Done + c.Skipped + c.Failed, c.Total);
                // A watched campaign grows: each new arrival, and what it waits, in one line now and then.
                if (c.Watching && watched.GetValueOrDefault(c.CampaignId) != c.Arrived + c.Done)
                {
                    watched[c.CampaignId] = c.Arrived + c.Done;
                    progress.Line($"campaign {c.CampaignId}: {Watched(c)}");
                }
                foreach (var f in c.Failures.Where(f => failures.Add($"{c.CampaignId}/{f.Name}"))) progress.Line($"campaign {c.CampaignId}: failed: {f.Name}: {f.Error}");
                if (c.Complete && running.Remove(c.CampaignId))
                {
                    progress.Line(string.Create(CultureInfo.InvariantCulture,
                        $"campaign {c.CampaignId}: complete: {c.Done} picked, {c.Skipped} already there, {c.Failed} failed; {c.Particles} particles"));
                }
            }
            if (running.Count == 0) return;
            await Task.Delay(TimeSpan.FromSeconds(1));
            campaigns = await client.StatusAsync(only, TimeSpan.FromSeconds(30));
        }
    }

    /// <summary>Arrivals, backlog and latency of a campaign that pick --watch adds to.</summary>
    private static string Watched(CampaignStatus c) => string.Create(CultureInfo.InvariantCulture,
        $"{c.Arrived} arrived by watching, {c.Backlog} waiting to be picked") + (c.LatencyCount == 0 ? "" : string.Create(CultureInfo.InvariantCulture,
        $"; latency from complete file to picks: median {c.LatencyMedianSeconds:0.0} s, 95th percentile {c.LatencyP95Seconds:0.0} s"));

    private static void Print(CampaignStatus c)
    {
        var when = c.Complete
            ? $"complete {DateTimeOffset.FromUnixTimeMilliseconds(c.FinishedUnixMs):yyyy-MM-dd HH:mm:ss}Z"
            : c.Watching ? "running, watched (pick --watch adds what arrives)" : "running";
        Console.Out.WriteLine($"campaign {c.CampaignId}: {when}");
        Console.Out.WriteLine($"  output: {c.OutDir}");
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {c.Total} micrographs: {c.Done} picked, {c.Skipped} already there, {c.Failed} failed, {c.InFlight} in flight, {c.Pending} pending; {c.Particles} particles"));
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  picked since the coordinator started: {c.PickedSinceRecovery} ({c.CoordinatorMsPerMicrograph:0.00} ms of coordinator time each)"));
        if (c.Arrived > 0) Console.Out.WriteLine($"  {Watched(c)}");
        foreach (var n in c.Nodes)
        {
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  node {PickingCampaign.ShortNode(n.Node)}: {n.Micrographs} micrographs, {n.BusySeconds:0.0} s"));
        }
        foreach (var f in c.Failures) Console.Out.WriteLine($"  failed: {f.Name}: {f.Error}");
    }
}
