using DeepEM.Cluster.Models;
using DeepEM.Cluster.Protocol;
using DeepEM.Formats;
using DeepEM.Pipeline.Picking;

namespace DeepEM.Cluster.Hosting;

/// <summary>Builds the spec of a picking campaign from what the user gave: absolute paths, names, the model's hash.</summary>
public static class CampaignSpecs
{
    /// <summary>Throws <see cref="ArgumentException"/> (one line) for names that clash or cannot be file names.</summary>
    public static CampaignSpec For(string modelPath, IEnumerable<string> micrographs, string outDir, PickingOptions options)
    {
        var absoluteOut = Path.GetFullPath(outDir);
        var refs = micrographs.Select(p => new MicrographRef(MicrographReader.NameOf(p), Path.GetFullPath(p))).ToList();
        var duplicate = refs.GroupBy(r => r.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"two micrographs share the name '{duplicate.Key}' ({string.Join(", ", duplicate.Select(d => d.Path))}); their picks would overwrite each other");
        }
        foreach (var r in refs) PickOutputs.CheckName(r.Name);
        var modelBytes = File.ReadAllBytes(modelPath);
        return new CampaignSpec(CampaignClient.CampaignIdOf(absoluteOut), absoluteOut, Path.GetFullPath(modelPath), ModelReplicas.Sha256Hex(modelBytes),
            modelBytes.LongLength, refs, PipelineMicrographPicking.FromOptions(options), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), []);
    }
}
