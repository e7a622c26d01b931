using System.Data.Common;
using DeepEM.Cluster.Campaigns;
using DeepEM.Cluster.Protocol;
using DeepEM.Cluster.Serialization;

namespace DeepEM.Cluster.Benchmarks;

/// <summary>What one campaign's journal entries say: how many micrographs it holds, and how often each was recorded as picked.</summary>
public sealed record CampaignAudit(int Micrographs, int PickedOnce, int PickedTwiceOrMore, int NeverPicked, int Failed)
{
    /// <summary>Every micrograph was recorded as picked exactly once (and none failed).</summary>
    public bool ExactlyOnce => PickedOnce == Micrographs && PickedTwiceOrMore == 0 && Failed == 0;
}

/// <summary>The campaign coordinator's journal and snapshots as stored: rows and bytes, and per campaign what was recorded.</summary>
public sealed record JournalFigures(long Rows, long Bytes, long Snapshots, long SnapshotBytes, IReadOnlyDictionary<string, CampaignAudit> Campaigns);

/// <summary>
/// Reads the campaign coordinator's rows straight from the journal's database (SQLite or PostgreSQL, Akka.Persistence.Sql's
/// tables) and decodes them with the cluster's serializer: the benchmark's and the tests' independent check that each
/// micrograph was recorded exactly once, and the size of what the journal keeps. A row's bytes are its payload, its
/// persistence id, manifest and writer id, and its four numeric columns.
/// </summary>
public static class JournalAudit
{
    public static JournalFigures Read(DbConnection connection, string persistenceId = CampaignCoordinator.Id)
    {
        // The serializer needs no actor system to decode.
        var serializer = new ClusterMessageSerializer(null!);
        var micrographs = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var picked = new Dictionary<string, Dictionary<int, int>>(StringComparer.Ordinal);
        var failed = new Dictionary<string, HashSet<int>>(StringComparer.Ordinal);
        long rows = 0, bytes = 0;
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT message, manifest, writer_uuid FROM journal WHERE persistence_id = @id AND deleted = @no ORDER BY sequence_number";
            Parameter(command, "@id", persistenceId);
            Parameter(command, "@no", false);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var message = (byte[])reader[0];
                var manifest = reader.IsDBNull(1) ? "" : reader.GetString(1);
                var writer = reader.IsDBNull(2) ? "" : reader.GetString(2);
                rows++;
                bytes += message.Length + persistenceId.Length + manifest.Length + writer.Length + 4 * 8 + 1;
                switch (serializer.FromBinary(message, manifest))
                {
                    case CampaignSubmitted s:
                        micrographs[s.CampaignId] = s.Spec.Micrographs.Select(m => m.Name).ToList();
                        break;
                    case MicrographsAdded a when micrographs.TryGetValue(a.CampaignId, out var names):
                        var known = names.ToHashSet(StringComparer.Ordinal);
                        names.AddRange(a.Micrographs.Select(m => m.Name).Where(n => !known.Contains(n)));
                        break;
                    case MicrographsPicked p:
                        var counts = picked.TryGetValue(p.CampaignId, out var c) ? c : picked[p.CampaignId] = [];
                        foreach (var m in p.Micrographs) counts[m.Index] = counts.GetValueOrDefault(m.Index) + 1;
                        break;
                    case MicrographPicked legacy when micrographs.TryGetValue(legacy.CampaignId, out var names):
                        var legacyCounts = picked.TryGetValue(legacy.CampaignId, out var lc) ? lc : picked[legacy.CampaignId] = [];
                        var index = names.IndexOf(legacy.Name);
                        legacyCounts[index] = legacyCounts.GetValueOrDefault(index) + 1;
                        break;
                    case MicrographFailed f when micrographs.TryGetValue(f.CampaignId, out var names):
                        (failed.TryGetValue(f.CampaignId, out var set) ? set : failed[f.CampaignId] = []).Add(f.Index ?? names.IndexOf(f.Name));
                        break;
                }
            }
        }
        long snapshots = 0, snapshotBytes = 0;
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT snapshot FROM snapshot WHERE persistence_id = @id";
            Parameter(command, "@id", persistenceId);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                snapshots++;
                snapshotBytes += reader.IsDBNull(0) ? 0 : ((byte[])reader[0]).Length;
            }
        }
        var campaigns = micrographs.ToDictionary(m => m.Key, m =>
        {
            var counts = picked.GetValueOrDefault(m.Key) ?? [];
            var total = m.Value.Count;
            return new CampaignAudit(total, counts.Count(c => c.Value == 1 && c.Key < total), counts.Count(c => c.Value > 1),
                total - counts.Keys.Count(k => k < total), failed.GetValueOrDefault(m.Key)?.Count ?? 0);
        }, StringComparer.Ordinal);
        return new JournalFigures(rows, bytes, snapshots, snapshotBytes, campaigns);
    }

    private static void Parameter(DbCommand command, string name, object value)
    {
        var p = command.CreateParameter();
        p.ParameterName = name;
        p.Value = value;
        command.Parameters.Add(p);
    }
}
