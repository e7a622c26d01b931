using DeepEM.Cluster.Blobs;
using DeepEM.Cluster.Models;
using DeepEM.Numerics.ModelFile;
using DeepEM.Numerics.ModelFile.Proto;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Training;
using DeepEM.TestSupport;

namespace DeepEM.Cluster.Tests;

/// <summary>A model file is read, hashed and parsed once per version in a process, whoever asks for it.</summary>
public class ModelFilesTests
{
    private static byte[] ModelBytes(ulong seed, float threshold)
    {
        var arch = Presets.Create(Presets.Default);
        return new TrainedModel(arch, WeightInitialization.Create(arch, seed),
            new Preprocessing { Binning = 4, BinningMethod = "block-mean", Normalization = "per-micrograph", BoxSizeOriginal = 192 },
            threshold, 0.1f, 3f, new TrainingRecord()).ToBytes();
    }

    [Fact]
    public void A_version_is_read_once_and_a_rewritten_file_again()
    {
        using var temp = TestPaths.NewTemp();
        var path = temp.File("model.deepem");
        File.WriteAllBytes(path, ModelBytes(1, 0.5f));
        var first = HashedFiles.Read(path);
        var again = HashedFiles.Read(Path.Combine(temp.Path, ".", "model.deepem"));
        Assert.Same(first.Bytes, again.Bytes); // the same array: not read a second time
        Assert.Equal(HashedFiles.Sha256Hex(File.ReadAllBytes(path)), first.Sha256);

        // Rewritten (another model, a later write time): read and hashed anew.
        File.WriteAllBytes(path, ModelBytes(2, 0.6f));
        File.SetLastWriteTimeUtc(path, File.GetLastWriteTimeUtc(path).AddSeconds(2));
        var rewritten = HashedFiles.Read(path);
        Assert.NotEqual(first.Sha256, rewritten.Sha256);
        Assert.Equal(File.ReadAllBytes(path), rewritten.Bytes);
    }

    [Fact]
    public void A_model_is_parsed_once_per_sha_and_a_damaged_one_is_refused_each_time()
    {
        using var temp = TestPaths.NewTemp();
        var path = temp.File("model.deepem");
        File.WriteAllBytes(path, ModelBytes(3, 0.4f));
        var (model, file) = ParsedModels.Load(path);
        Assert.Same(model, ParsedModels.Get(file.Sha256, file.Bytes, "again"));
        Assert.Equal(0.4f, model.Threshold);

        var damaged = temp.File("damaged.deepem");
        File.WriteAllBytes(damaged, [1, 2, 3, 4, 5]);
        for (var i = 0; i < 2; i++)
        {
            var e = Assert.Throws<InvalidModelException>(() => ParsedModels.Load(damaged));
            Assert.Contains("damaged.deepem", e.Message);
        }
        var missing = Assert.Throws<InvalidModelException>(() => ParsedModels.Load(temp.File("none.deepem")));
        Assert.Contains("no such file", missing.Message);
    }
}
