using System.Diagnostics;
using DeepEM.Formats.Coordinates;
using DeepEM.Formats.Mrc;
using DeepEM.Simulation;

namespace DeepEM.Cli.Workflows;

/// <summary>
/// Writes a simulated dataset in the layout of docs/cli.md: <c>OUT/micrographs/NAME.mrc</c> (float32 counts,
/// pixel size in the header) and <c>OUT/truth/NAME.star</c> (the particle centres).
/// </summary>
public static class SimulatedDataset
{
    public sealed record Result(IReadOnlyList<string> Micrographs, int Particles, TimeSpan Elapsed);

    public static string NameOf(int index) => $"mic_{index:D4}";

    public static Result Write(string outDir, SimulationSettings settings, int count, ulong seed, Action<string>? progress = null)
    {
        var simulator = new MicrographSimulator(settings);
        var micrographDir = Path.Combine(outDir, "micrographs");
        var truthDir = Path.Combine(outDir, "truth");
        Directory.CreateDirectory(micrographDir);
        Directory.CreateDirectory(truthDir);
        var paths = new string[count];
        var particles = new int[count];
        var watch = Stopwatch.StartNew();
        // Each micrograph has its own random stream, so running them in parallel changes no byte.
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            var sim = simulator.Simulate(seed, i);
            var name = NameOf(i);
            var path = Path.Combine(micrographDir, name + ".mrc");
            MrcWriter.Write(path, sim.Image, MrcMode.Float32, settings.PixelSizeAngstrom);
            RelionStarCoordinates.Write(Path.Combine(truthDir, name + ".star"),
                sim.Particles.Select(p => new Pick(Math.Round(p.X, 2), Math.Round(p.Y, 2))));
            paths[i] = path;
            particles[i] = sim.Particles.Count;
            progress?.Invoke($"{name}: {sim.Particles.Count} particles, defocus {sim.Ctf.DefocusUAngstrom / 1e4:0.00} µm{(sim.HasCarbon ? ", carbon edge" : "")}, {sim.Contaminants.Count} contaminant(s)");
        });
        return new Result(paths, particles.Sum(), watch.Elapsed);
    }
}
