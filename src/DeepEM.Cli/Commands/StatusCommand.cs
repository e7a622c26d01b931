using System.CommandLine;
using System.Globalization;
using DeepEM.Cli.Infrastructure;
using DeepEM.Cli.Workflows;
using DeepEM.Cluster;
using DeepEM.Cluster.Hosting;
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
        var command = new Command("status", "Progress of running and past campaigns.") { state, campaign };
        foreach (var o in cluster.All) command.Options.Add(o);
        command.SetAction(parse => Terminal.Run(() =>
        {
            var address = cluster.JoinAddress(parse);
            cluster.RefuseWithoutJoin(parse);
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
                var campaigns = new CampaignClient(node).StatusAsync(parse.GetValue(campaign) ?? "", TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
                if (campaigns.Count == 0) Console.Out.WriteLine("no campaigns");
                foreach (var c in campaigns) Print(c);
            }
            finally
            {
                node.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            return ExitCodes.Success;
        }));
        return command;
    }

    private static void Print(CampaignStatus c)
    {
        var when = c.Complete
            ? $"complete {DateTimeOffset.FromUnixTimeMilliseconds(c.FinishedUnixMs):yyyy-MM-dd HH:mm:ss}Z"
            : "running";
        Console.Out.WriteLine($"campaign {c.CampaignId}: {when}");
        Console.Out.WriteLine($"  output: {c.OutDir}");
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {c.Total} micrographs: {c.Done} picked, {c.Skipped} already there, {c.Failed} failed, {c.InFlight} in flight, {c.Pending} pending; {c.Particles} particles"));
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  picked since the coordinator started: {c.PickedSinceRecovery} ({c.CoordinatorMsPerMicrograph:0.00} ms of coordinator time each)"));
        foreach (var n in c.Nodes)
        {
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  node {PickingCampaign.ShortNode(n.Node)}: {n.Micrographs} micrographs, {n.BusySeconds:0.0} s"));
        }
        foreach (var f in c.Failures) Console.Out.WriteLine($"  failed: {f.Name}: {f.Error}");
    }
}
