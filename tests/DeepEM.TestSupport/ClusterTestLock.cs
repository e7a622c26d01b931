namespace DeepEM.TestSupport;

/// <summary>
/// Held by the tests that run a whole cluster (the in-process clusters of DeepEM.Cluster.Tests, the node processes of
/// DeepEM.Cli.Tests) for as long as their collection runs, so that the two never run at the same time. `./run-tests`
/// runs those two test projects side by side, and xunit's collections only order the tests of one assembly: this
/// lock is a file locked by the process (released by the kernel when it exits, also when it is killed), shared by
/// every test process of the user on this machine.
/// <para>
/// Only with <c>DEEPEM_TESTS_CLUSTERS_APART=1</c> (for a machine busy with other work): apart, the suite takes several
/// minutes longer on 2 cores (README).
/// </para>
/// </summary>
public sealed class ClusterTestLock : IDisposable
{
    private readonly FileStream? _file;

    public ClusterTestLock()
    {
        if (Environment.GetEnvironmentVariable("DEEPEM_TESTS_CLUSTERS_APART") != "1") return;
        var path = Path.Combine(Path.GetTempPath(), $"deepem-tests-{Environment.UserName}", "clusters.lock");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        while (true)
        {
            try
            {
                _file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                return;
            }
            catch (IOException)
            {
                // Held by the other test process: wait for it to let go. The wait is for the lock, not for a time.
                Thread.Sleep(200);
            }
        }
    }

    public void Dispose() => _file?.Dispose();
}
