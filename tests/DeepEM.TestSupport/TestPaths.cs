namespace DeepEM.TestSupport;

/// <summary>Locations the tests need: the repository root, the shared real data beside it, scratch folders.</summary>
public static class TestPaths
{
    private static readonly Lazy<string> Root = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "DeepEM.Cluster.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException($"no DeepEM.Cluster.sln above {AppContext.BaseDirectory}");
    });

    public static string RepositoryRoot => Root.Value;

    /// <summary>
    /// The real EMPIAR-10017 data, read where it lies (../shared beside the repository, or $DEEPEM_SHARED).
    /// Missing data fails the test that needs it: a skipped real-data test would hide a broken set-up.
    /// </summary>
    public static string BetaGal
    {
        get
        {
            var shared = Environment.GetEnvironmentVariable("DEEPEM_SHARED") ?? Path.Combine(RepositoryRoot, "..", "shared");
            var path = Path.GetFullPath(Path.Combine(shared, "data", "empiar10017_betagal"));
            if (!Directory.Exists(path))
            {
                throw new DirectoryNotFoundException($"real data not found at {path}: clone the repository beside shared/, or set DEEPEM_SHARED");
            }
            return path;
        }
    }

    /// <summary>A fresh scratch folder, removed when disposed.</summary>
    public static TempFolder NewTemp() => new();
}

public sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "deepem-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>DEEPEM_KEEP_TEST_FILES=1 keeps every test's folder (its logs, above all) for a look after a failure.</summary>
    public void Dispose()
    {
        if (Environment.GetEnvironmentVariable("DEEPEM_KEEP_TEST_FILES") == "1") return;
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
