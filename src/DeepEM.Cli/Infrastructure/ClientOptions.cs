using System.CommandLine;
using DeepEM.Cluster.Nodes;
using DeepEM.Cluster;

namespace DeepEM.Cli.Infrastructure;

/// <summary>
/// The flags of a verb that can run as a client of a running cluster (pick, train, classify, status): <c>--join</c>,
/// <c>--host</c> and <c>--config</c>. A client is a cluster member like any node, so it must share the site's
/// configuration (failure detection, transport security) with the nodes it joins.
/// </summary>
public sealed class ClientOptions
{
    public Option<string?> Join { get; }
    public Option<string> Host { get; } = new("--host") { Description = "with --join: the address this client binds, which the cluster must reach", DefaultValueFactory = _ => "127.0.0.1" };
    public Option<string[]> Config { get; } = new("--config") { Description = "with --join: the site's HOCON files, as given to its nodes", AllowMultipleArgumentsPerToken = false };

    public ClientOptions(string joinDescription)
    {
        Join = new Option<string?>("--join") { Description = joinDescription };
    }

    public IEnumerable<Option> All => [Join, Host, Config];

    /// <summary>The address given to --join (checked), or null for the embedded default.</summary>
    public string? JoinAddress(ParseResult parse)
    {
        var address = parse.GetValue(Join);
        if (address is null) return null;
        try
        {
            NodeOptions.CheckAddress(address);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--join: {e.Message}");
        }
        foreach (var file in parse.GetValue(Config) ?? [])
        {
            if (!File.Exists(file)) throw new UsageException($"--config {file}: no such file");
        }
        return address;
    }

    /// <summary>A client member of the cluster that <paramref name="address"/> belongs to.</summary>
    public NodeOptions ClientNode(ParseResult parse, string address) => new()
    {
        Roles = [Roles.Client],
        Host = parse.GetValue(Host)!,
        SeedNodes = [address],
        ConfigFiles = parse.GetValue(Config) ?? [],
        LogLevel = Terminal.Verbose ? "INFO" : "ERROR",
    };

    /// <summary>--host and --config mean nothing without --join: say so rather than ignore them.</summary>
    public void RefuseWithoutJoin(ParseResult parse)
    {
        if (parse.GetValue(Join) is not null) return;
        if ((parse.GetValue(Config) ?? []).Length > 0) throw new UsageException("--config: only with --join (a one-process run uses the built-in configuration)");
    }
}
