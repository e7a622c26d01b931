namespace DeepEM.Cluster;

/// <summary>The cluster roles of docs/cli.md's <c>deepem node --roles</c>, plus the one a client takes while it talks to the cluster.</summary>
public static class Roles
{
    /// <summary>Hosts picking slots (sharded entities) and a compute backend.</summary>
    public const string Worker = "worker";

    /// <summary>May host the campaign coordinator singleton and its journal.</summary>
    public const string Coordinator = "coordinator";

    /// <summary><c>deepem pick --join</c> and <c>deepem status</c>: a member for as long as the command runs, hosting nothing.</summary>
    public const string Client = "client";

    private const string LanesPrefix = "lanes-";

    /// <summary>
    /// The role a worker with several picking lanes (one per GPU) also takes, so that the coordinator opens slots in
    /// proportion and the slots' allocation weighs nodes by it. A worker without it has one lane.
    /// </summary>
    public static string Lanes(int lanes) => LanesPrefix + lanes;

    public static int LanesOf(IEnumerable<string> roles)
    {
        foreach (var role in roles)
        {
            if (role.StartsWith(LanesPrefix, StringComparison.Ordinal) && int.TryParse(role.AsSpan(LanesPrefix.Length), out var n) && n > 0) return n;
        }
        return 1;
    }
}
