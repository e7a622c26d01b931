using DeepEM.Cluster.Benchmarks;
using DeepEM.Cluster.Nodes;
using DeepEM.TestSupport;

namespace DeepEM.Cluster.Tests;

/// <summary>
/// PostgreSQL as the production journal, for real: a throwaway server of this machine's PostgreSQL (Debian's package,
/// which the test command installs), a campaign whose coordinator moves to another node halfway (the singleton recovers
/// the campaign from PostgreSQL), and the journal read back row by row.
/// </summary>
[Collection("cluster")]
public sealed class PostgresJournalTests(ClusterData data)
{
    private static string Journal(LocalPostgres server) => $$"""
        akka.persistence.journal.sql { provider-name = "PostgreSQL.15", connection-string = "{{server.ConnectionString}}" }
        akka.persistence.snapshot-store.sql { provider-name = "PostgreSQL.15", connection-string = "{{server.ConnectionString}}" }
        """;

    [Fact]
    public async Task A_campaign_whose_coordinator_restarts_on_another_node_recovers_from_PostgreSQL_and_records_each_micrograph_once()
    {
        using var server = LocalPostgres.Start();
        using var temp = TestPaths.NewTemp();
        var slow = TimeSpan.FromSeconds(0.3);
        var first = await TestCluster.Start(temp.File("state-1"), [Roles.Coordinator], extra: Journal(server));
        var worker = await TestCluster.Start(null, [Roles.Worker], first, p => new SlowPicking(p, slow));
        ClusterNode? second = null;
        try
        {
            var done = 0;
            var restart = new TaskCompletionSource();
            var pick = TestCluster.Pick(worker, data, temp.File("picks"), _ =>
            {
                if (Interlocked.Increment(ref done) == 12) restart.TrySetResult();
            });
            await restart.Task.WaitAsync(TimeSpan.FromMinutes(2));
            // A second coordinator node joins and the first leaves: the singleton starts on the second, which has nothing but
            // the database to go on.
            second = await TestCluster.Start(temp.File("state-2"), [Roles.Coordinator], worker, extra: Journal(server));
            await first.LeaveAsync();
            var final = await pick.WaitAsync(TimeSpan.FromMinutes(3));
            Assert.True(final.Complete);
            Assert.Equal((40, 0), (final.Done, final.Failed));
            Assert.True(final.PickedSinceRecovery is > 0 and < 40, $"the second coordinator recorded {final.PickedSinceRecovery}");
            TestCluster.AssertSameAsReference(data, temp.File("picks"));
            Assert.Contains("campaign coordinator recovered 1 campaigns (1 open", File.ReadAllText(temp.File("state-2/node.log")));

            await using var connection = new Npgsql.NpgsqlConnection(server.ConnectionString);
            await connection.OpenAsync();
            var journal = JournalAudit.Read(connection);
            var campaign = Assert.Single(journal.Campaigns).Value;
            Assert.True(campaign.ExactlyOnce, campaign.ToString());
            Assert.Equal(40, campaign.Micrographs);
        }
        finally
        {
            if (second is not null) await second.DisposeAsync();
            await worker.DisposeAsync();
            await first.DisposeAsync();
        }
    }
}

/// <summary>hocon/production.conf, the documented production journal: what a node built from it connects to.</summary>
public sealed class ProductionConfigurationTests
{
    private static string ProductionConf => Path.Combine(TestPaths.RepositoryRoot, "hocon", "production.conf");

    [Fact]
    public void The_production_file_points_both_stores_at_the_PostgreSQL_database_named_in_DEEPEM_JOURNAL()
    {
        using var temp = TestPaths.NewTemp();
        const string database = "Host=db.example.org;Port=5432;Database=deepem;Username=deepem;Password=s3cret";
        Environment.SetEnvironmentVariable("DEEPEM_JOURNAL", database);
        try
        {
            var config = ClusterNode.BuildConfig(new NodeOptions { Roles = [Roles.Coordinator], StateDir = temp.Path, ConfigFiles = [ProductionConf] });
            foreach (var store in new[] { "journal", "snapshot-store" })
            {
                Assert.Equal("PostgreSQL.15", config.GetString($"akka.persistence.{store}.sql.provider-name"));
                Assert.Equal(database, config.GetString($"akka.persistence.{store}.sql.connection-string"));
            }
        }
        finally
        {
            Environment.SetEnvironmentVariable("DEEPEM_JOURNAL", null);
        }
    }

    [Fact]
    public void Without_its_connection_string_the_production_file_is_refused_in_one_line()
    {
        using var temp = TestPaths.NewTemp();
        Environment.SetEnvironmentVariable("DEEPEM_JOURNAL", null);
        var e = Assert.Throws<ArgumentException>(() =>
            ClusterNode.BuildConfig(new NodeOptions { Roles = [Roles.Coordinator], StateDir = temp.Path, ConfigFiles = [ProductionConf] }));
        Assert.Equal("akka.persistence.journal.sql: provider PostgreSQL.15 has no connection-string (hocon/production.conf reads it from DEEPEM_JOURNAL)", e.Message);
        // The embedded default is untouched: SQLite in the state folder.
        var embedded = ClusterNode.BuildConfig(new NodeOptions { Roles = [Roles.Coordinator], StateDir = temp.Path });
        Assert.Equal($"Data Source={Path.Combine(temp.Path, "journal.db")}", embedded.GetString("akka.persistence.journal.sql.connection-string"));
    }
}
