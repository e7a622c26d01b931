using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using DeepEM.Cluster.Nodes;
using DeepEM.Cluster.Storage;
using DeepEM.TestSupport;
using Microsoft.Data.Sqlite;

namespace DeepEM.Cluster.Tests;

/// <summary>
/// The embedded journal's tables are the node's to create (StateJournal): they must be the tables Akka.Persistence.Sql
/// creates itself, so that a state folder made by either reads the same, and one made by an earlier version is used as
/// it is.
/// </summary>
public sealed class StateJournalTests
{
    [Fact]
    public async Task The_node_creates_the_tables_the_plugin_creates()
    {
        using var temp = TestPaths.NewTemp();
        var node = ClusterNode.BuildConfig(new NodeOptions { Roles = [Roles.Coordinator], StateDir = temp.Path });
        Assert.False(node.GetBoolean("akka.persistence.journal.sql.auto-initialize", true));
        Assert.False(node.GetBoolean("akka.persistence.snapshot-store.sql.auto-initialize", true));

        // The plugin's own tables, in a file of their own: a recovery waits for both stores to have initialised.
        var byPlugin = temp.File("by-plugin.db");
        var config = ConfigurationFactory.ParseString($$"""
            akka.actor.provider = local
            akka.persistence.journal.sql { connection-string = "Data Source={{byPlugin}}", auto-initialize = on }
            akka.persistence.snapshot-store.sql { connection-string = "Data Source={{byPlugin}}", auto-initialize = on }
            """).WithFallback(node);
        using (var system = ActorSystem.Create("state-journal", config))
        {
            var recovered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            system.ActorOf(Props.Create(() => new Recovering(recovered)));
            await recovered.Task.WaitAsync(TimeSpan.FromSeconds(60));
            await system.Terminate();
        }

        var byNode = StateJournal.PathIn(temp.Path);
        StateJournal.EnsureTables(byNode, journal: true, snapshots: true);
        var expected = Schema(byPlugin);
        Assert.Contains(expected, o => o.Name == "journal");
        Assert.Contains(expected, o => o.Name == "snapshot");
        Assert.Equal(expected, Schema(byNode));

        // A file that has them already (made by the plugin, or by an earlier start) is left as it is.
        StateJournal.EnsureTables(byPlugin, journal: true, snapshots: true);
        Assert.Equal(expected, Schema(byPlugin));
    }

    [Fact]
    public void A_site_that_changes_the_tables_or_only_reads_keeps_the_plugins_own_initialisation()
    {
        using var temp = TestPaths.NewTemp();
        var site = temp.File("site.conf");
        File.WriteAllText(site, "akka.persistence.journal.sql.default.journal.table-name = picks_journal\n");
        var changed = ClusterNode.BuildConfig(new NodeOptions { Roles = [Roles.Coordinator], StateDir = temp.Path, ConfigFiles = [site] });
        Assert.True(changed.GetBoolean("akka.persistence.journal.sql.auto-initialize", false));
        Assert.False(changed.GetBoolean("akka.persistence.snapshot-store.sql.auto-initialize", true));

        var status = ClusterNode.BuildConfig(new NodeOptions { Roles = [Roles.Coordinator], StateDir = temp.Path, ReadOnlyCoordinator = true });
        Assert.True(status.GetBoolean("akka.persistence.journal.sql.auto-initialize", false));
        Assert.True(status.GetBoolean("akka.persistence.snapshot-store.sql.auto-initialize", false));
    }

    [Fact]
    public void Only_the_embedded_nodes_first_recovery_on_a_new_journal_skips_the_snapshot()
    {
        using var temp = TestPaths.NewTemp();
        var embedded = new NodeOptions { Embedded = true, Roles = [Roles.Worker, Roles.Coordinator], StateDir = temp.Path };
        var fresh = ClusterNode.FreshStateJournal(ClusterNode.BuildConfig(embedded), embedded);
        Assert.NotNull(fresh);
        Assert.True(fresh.TakeFirstRecovery());
        Assert.False(fresh.TakeFirstRecovery());

        // A journal that is there may hold snapshots; a node of a larger cluster may share its folder with others.
        var node = embedded with { Embedded = false };
        Assert.Null(ClusterNode.FreshStateJournal(ClusterNode.BuildConfig(node), node));
        StateJournal.EnsureTables(StateJournal.PathIn(temp.Path), journal: true, snapshots: true);
        Assert.Null(ClusterNode.FreshStateJournal(ClusterNode.BuildConfig(embedded), embedded));
    }

    private sealed record SchemaObject(string Type, string Name, string Table, string? Sql);

    private static List<SchemaObject> Schema(string file)
    {
        using var connection = new SqliteConnection($"Data Source={file};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name";
        using var reader = command.ExecuteReader();
        var objects = new List<SchemaObject>();
        while (reader.Read()) objects.Add(new SchemaObject(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3)));
        return objects;
    }

    private sealed class Recovering : ReceivePersistentActor
    {
        public override string PersistenceId => "state-journal-test";

        public Recovering(TaskCompletionSource recovered)
        {
            Recover<RecoveryCompleted>(_ => recovered.TrySetResult());
            CommandAny(_ => { });
        }
    }
}
