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
}
