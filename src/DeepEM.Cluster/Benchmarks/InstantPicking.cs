using System.Collections.Concurrent;
using System.Diagnostics;
using DeepEM.Cluster.Picking;
using DeepEM.Cluster.Protocol;
using DeepEM.Formats.Coordinates;
using DeepEM.Pipeline.Picking;

namespace DeepEM.Cluster.Benchmarks;

/// <summary>
/// The scale benchmark's picking engine: answers at once with ready-made picks (no micrograph is read), so that what is
/// measured is the cluster's machinery (the coordinator, the slots, the journal, the files written) and not the network.
/// It notes which node took and which node picked each micrograph, and when, for the benchmark's join and leave figures.
/// </summary>
internal sealed class InstantPicking(IReadOnlyList<Pick> picks, int boxSize, Stopwatch clock) : IMicrographPicking
{
    /// <summary>(node, micrograph, seconds since the benchmark's clock started) of every task a slot queued.</summary>
    public ConcurrentQueue<(string Node, string Name, double At)> Queued { get; } = new();

    /// <summary>(node, micrograph, seconds) of every micrograph picked.</summary>
    public ConcurrentQueue<(string Node, string Name, double At)> Picked { get; } = new();

    public Task<PickOutcome> PickAsync(PickTask task, string node, CancellationToken cancel)
    {
        Picked.Enqueue((node, task.Micrograph.Name, clock.Elapsed.TotalSeconds));
        return Task.FromResult(new PickOutcome(new MicrographPicks(task.Micrograph.Name, picks, picks.Count, 0, 1_000_000, TimeSpan.Zero), boxSize));
    }

    void IMicrographPicking.Queued(PickTask task, string node) => Queued.Enqueue((node, task.Micrograph.Name, clock.Elapsed.TotalSeconds));

    /// <summary>Ready-made picks: <paramref name="count"/> centres spread over a 4096² micrograph, with scores.</summary>
    public static IReadOnlyList<Pick> ReadyMade(int count)
    {
        var random = new Random(14);
        return Enumerable.Range(0, count).Select(_ => new Pick(90 + random.NextDouble() * 3900, 90 + random.NextDouble() * 3900, 0.5 + 0.5 * random.NextDouble())).ToList();
    }
}
