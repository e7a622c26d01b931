using DeepEM.Classification.Steps;

namespace DeepEM.Classification;

/// <summary>
/// One class of the result: its number (1-based, as in RELION), its average (Size² floats, the particles' normalised
/// units), how many particles it holds, their mean score, and the average's contrast (standard deviation inside the
/// mask; an empty-ice class averages out to almost none).
/// </summary>
public sealed record ClassAverage(int Number, float[] Image, long Count, double MeanScore, double Contrast);

/// <summary>One line of the run's log: what a step did.</summary>
public sealed record RoundReport(int Step, string Phase, string Summary, double Seconds);

/// <summary>The classification: class averages, every particle's class per shard (in shard order), and the log.</summary>
public sealed record ClassificationResult(
    ParticleGeometry Geometry,
    IReadOnlyList<ClassAverage> Classes,
    IReadOnlyList<ParticleAssignment[]> Assignments,
    IReadOnlyList<RoundReport> Rounds)
{
    public long Particles => Classes.Sum(c => c.Count);
}
