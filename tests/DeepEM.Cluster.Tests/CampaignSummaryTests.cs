using System.Text.Json;
using DeepEM.Cluster.Protocol;
using DeepEM.Cluster.Storage;
using DeepEM.Pipeline.Picking;
using DeepEM.TestSupport;

namespace DeepEM.Cluster.Tests;

/// <summary>
/// campaign.json, the summary users and scripts read: written field by field, it must stay the document that
/// JsonSerializer made of the same fields before (names, order, nulls, numbers, dates, escaping), byte for byte.
/// </summary>
public sealed class CampaignSummaryTests
{
    private static CampaignSpec Spec(string outDir) => new("pick-0123456789abcdef", outDir, "/models/β-gal & co+1.deepem", new string('c', 64), 10,
        [new MicrographRef("m0", "/data/m0.mrc")], new PickSettings(), 1_764_000_000_123, []);

    public static TheoryData<bool> Cases => [true, false];

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_summary_is_the_document_the_serializer_wrote_for_the_same_fields(bool finishedAndWatched)
    {
        using var temp = TestPaths.NewTemp();
        var status = new CampaignStatus
        {
            CampaignId = "pick-0123456789abcdef", OutDir = temp.Path, Total = 7, Done = 4, Skipped = 1, Failed = 2, InFlight = 0,
            Pending = finishedAndWatched ? 3 : 0, Complete = !finishedAndWatched, SubmittedUnixMs = 1_764_000_000_123,
            FinishedUnixMs = finishedAndWatched ? 1_764_000_123_450 : 0, Particles = 12_345_678_901,
            Nodes = [new NodeThroughput("akka.tcp://deepem@127.0.0.1:4053", 3, 1.23456), new NodeThroughput("akka.tcp://deepem@127.0.0.1:4054", 1, 0)],
            Failures = finishedAndWatched ? [new FailedMicrograph("m5", "m5.mrc: \"truncated\" <after 12 bytes> naïve\ttab")] : [],
            CoordinatorMsPerMicrograph = 0.123456, Watching = finishedAndWatched, Arrived = finishedAndWatched ? 5 : 0,
            LatencyCount = finishedAndWatched ? 4 : 0, LatencyMedianSeconds = 1.23449, LatencyP95Seconds = 2.5, LatencyMaxSeconds = 1e-4,
        };

        new FolderCampaignOutput(Spec(temp.Path)).WriteSummary(status);

        var spec = Spec(temp.Path);
        var reference = new
        {
            campaign = status.CampaignId,
            outDir = status.OutDir,
            model = spec.ModelPath,
            modelSha256 = spec.ModelSha256,
            total = status.Total,
            picked = status.Done,
            alreadyThere = status.Skipped,
            failed = status.Failed,
            particles = status.Particles,
            submitted = DateTimeOffset.FromUnixTimeMilliseconds(status.SubmittedUnixMs),
            finished = status.FinishedUnixMs > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(status.FinishedUnixMs) : (DateTimeOffset?)null,
            coordinatorMsPerMicrograph = Math.Round(status.CoordinatorMsPerMicrograph, 3),
            watching = status.Watching,
            arrived = status.Arrived,
            backlog = status.Backlog,
            latencySeconds = status.LatencyCount == 0 ? null : new
            {
                count = status.LatencyCount,
                median = Math.Round(status.LatencyMedianSeconds, 3),
                p95 = Math.Round(status.LatencyP95Seconds, 3),
                max = Math.Round(status.LatencyMaxSeconds, 3),
            },
            nodes = status.Nodes.Select(n => new
            {
                node = n.Node,
                micrographs = n.Micrographs,
                busySeconds = Math.Round(n.BusySeconds, 3),
                micrographsPerBusySecond = n.BusySeconds > 0 ? Math.Round(n.Micrographs / n.BusySeconds, 4) : 0,
            }),
            failures = status.Failures.Select(f => new { micrograph = f.Name, error = f.Error }),
        };
        var expected = JsonSerializer.Serialize(reference, new JsonSerializerOptions { WriteIndented = true }) + "\n";
        Assert.Equal(expected, File.ReadAllText(temp.File("campaign.json")));
    }
}
