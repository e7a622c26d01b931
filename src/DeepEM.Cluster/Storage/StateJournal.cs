using DeepEM.Formats;
using Microsoft.Data.Sqlite;

namespace DeepEM.Cluster.Storage;

/// <summary>
/// The embedded journal: SQLite in a coordinator's state folder (journal.db), for the journal and the snapshot store
/// alike unless the site configured a database of its own. Its tables are created here, with the statements
/// Akka.Persistence.Sql's auto-initialize issues for SQLite, and the plugin's auto-initialize is off for it: the plugin
/// builds those statements through its query layer at every start, and on a one-micrograph pick that was most of what
/// the journal did before the coordinator could recover (docs/benchmarks.md). A journal created by an earlier version,
/// through the plugin, has the same tables, and nothing here changes them. <c>StateJournalTests</c> compares these
/// tables with the plugin's own.
/// </summary>
public static class StateJournal
{
    public const string FileName = "journal.db";

    /// <summary>The journal file of a state folder.</summary>
    public static string PathIn(string stateDir) => Path.GetFullPath(Path.Combine(stateDir, FileName));

    /// <summary>The connection string the node gives the plugin for <paramref name="file"/>.</summary>
    internal static string ConnectionString(string file) => $"Data Source={file}";

    // What decides the plugin's tables besides the provider: a site that sets any of these otherwise gets the plugin's
    // own auto-initialize, as before.
    private static readonly string[] TableSettings = ["table-mapping", "tag-write-mode", "delete-compatibility-mode", "use-writer-uuid-column", "default"];

    /// <summary>Whether the store's table settings are the plugin's defaults, the tables <see cref="EnsureTables"/> makes.</summary>
    internal static bool HasDefaultTables(Akka.Configuration.Config config, string store) =>
        TableSettings.All(key => config.GetValue($"akka.persistence.{store}.sql.{key}")?.ToString()
            == Akka.Persistence.Sql.SqlPersistence.DefaultConfiguration.GetValue($"akka.persistence.{store}.sql.{key}")?.ToString());

    /// <summary>Creates the file and the tables of the stores named (journal, snapshot-store) where they are missing.</summary>
    internal static void EnsureTables(string file, bool journal, bool snapshots)
    {
        if (!journal && !snapshots) return;
        try
        {
            using var connection = new SqliteConnection(ConnectionString(file));
            connection.Open();
            // Deferred: a file whose tables are there already is only read.
            using var transaction = connection.BeginTransaction(deferred: true);
            foreach (var statement in (journal ? JournalTables : []).Concat(snapshots ? SnapshotTables : []))
            {
                using var command = connection.CreateCommand();
                command.Transaction = transaction;
                command.CommandText = statement;
                command.ExecuteNonQuery();
            }
            transaction.Commit();
        }
        catch (SqliteException e) when (e.SqliteErrorCode is NotADatabase or Corrupt)
        {
            // A damaged or foreign file: one line naming it, before anything else starts on it.
            throw new BadInputException(file, $"the campaign journal cannot be used ({e.Message.TrimEnd('.')}); move it away, with any {FileName}-wal, -shm or -journal beside it, to start the campaign afresh", e);
        }
        catch (SqliteException e)
        {
            // Busy, locked, full, not permitted: the journal may well be sound, and is not to be moved.
            throw new BadInputException(file, $"the campaign journal cannot be opened ({e.Message.TrimEnd('.')})", e);
        }
    }

    private const int Corrupt = 11, NotADatabase = 26; // SQLITE_CORRUPT, SQLITE_NOTADB

    // As the plugin (1.5.73, SQLite.MS, the default table mapping and tag table) writes them; SQLite keeps each statement's
    // text without its IF NOT EXISTS, so a file made here reads like one the plugin made.
    internal static readonly string[] JournalTables =
    [
        "CREATE TABLE IF NOT EXISTS [journal]\n(\n\t[ordering]        INTEGER        NOT NULL PRIMARY KEY AUTOINCREMENT,\n\t[created]         INTEGER        NOT NULL,\n\t[deleted]         Bit            NOT NULL,\n\t[persistence_id]  NVarChar(255)  NOT NULL,\n\t[sequence_number] INTEGER        NOT NULL,\n\t[message]         VarBinary      NOT NULL,\n\t[manifest]        NVarChar(500)      NULL,\n\t[identifier]      INTEGER            NULL,\n\t[writer_uuid]     NVarChar(128)      NULL\n)",
        "CREATE UNIQUE INDEX IF NOT EXISTS journal_uq ON journal (persistence_id, sequence_number)",
        "CREATE INDEX IF NOT EXISTS journal_created_idx ON journal (created)",
        "CREATE INDEX IF NOT EXISTS journal_sequence_number_idx ON journal (sequence_number)",
        "CREATE TABLE IF NOT EXISTS [tags]\n(\n\t[ordering_id]    INTEGER       NOT NULL,\n\t[tag]            NVarChar(64)  NOT NULL,\n\t[sequence_nr]    INTEGER       NOT NULL,\n\t[persistence_id] NVarChar(255) NOT NULL,\n\n\tCONSTRAINT [PK_tags] PRIMARY KEY ([ordering_id], [tag])\n)",
        "CREATE INDEX IF NOT EXISTS tags_persistence_id_sequence_nr_idx ON tags (persistence_id, sequence_nr)",
        "CREATE INDEX IF NOT EXISTS tags_tag_idx ON tags (tag)",
    ];

    internal static readonly string[] SnapshotTables =
    [
        "CREATE TABLE IF NOT EXISTS [snapshot]\n(\n\t[persistence_id]  NVarChar(255) NOT NULL,\n\t[sequence_number] INTEGER       NOT NULL,\n\t[created]         INTEGER       NOT NULL,\n\t[snapshot]        VarBinary         NULL,\n\t[manifest]        NVarChar(500)     NULL,\n\t[serializer_id]   INTEGER           NULL,\n\n\tCONSTRAINT [PK_snapshot] PRIMARY KEY ([persistence_id], [sequence_number])\n)",
        "CREATE INDEX IF NOT EXISTS snapshot_sequence_number_idx ON snapshot (sequence_number)",
        "CREATE INDEX IF NOT EXISTS snapshot_created_idx ON snapshot (created)",
    ];
}
