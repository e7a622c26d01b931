using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace DeepEM.Cluster.Benchmarks;

/// <summary>
/// A throwaway PostgreSQL server for tests and benchmarks: <c>initdb</c> into a fresh folder, <c>pg_ctl start</c> on a
/// free loopback port, <c>pg_ctl stop</c> and the folder deleted at the end. It uses the machine's own PostgreSQL
/// binaries (Debian's <c>postgresql</c> package: <c>/usr/lib/postgresql/N/bin</c>); the server refuses to run as root,
/// so under root it runs as the <c>postgres</c> user the package creates.
/// </summary>
public sealed class LocalPostgres : IDisposable
{
    private readonly string _bin;
    private readonly string _folder;
    private readonly bool _asPostgres;

    private LocalPostgres(string bin, string folder, bool asPostgres, int port)
    {
        _bin = bin;
        _folder = folder;
        _asPostgres = asPostgres;
        Port = port;
    }

    public int Port { get; }

    /// <summary>Npgsql's connection string for the server's <c>postgres</c> database, user <c>deepem</c> (trusted on loopback).</summary>
    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=deepem;Database=postgres";

    /// <summary>The folder with <c>initdb</c> and <c>pg_ctl</c>, or null when PostgreSQL is not installed.</summary>
    public static string? FindBinaries()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl"))) return dir;
        }
        const string debian = "/usr/lib/postgresql";
        if (!Directory.Exists(debian)) return null;
        return Directory.GetDirectories(debian)
            .Select(d => (Dir: Path.Combine(d, "bin"), Version: int.TryParse(Path.GetFileName(d), out var v) ? v : 0))
            .Where(d => File.Exists(Path.Combine(d.Dir, "initdb")))
            .OrderByDescending(d => d.Version)
            .Select(d => d.Dir)
            .FirstOrDefault();
    }

    public static LocalPostgres Start()
    {
        var bin = FindBinaries() ?? throw new InvalidOperationException("PostgreSQL is not installed (Debian: apt-get install postgresql)");
        var folder = Path.Combine(Path.GetTempPath(), "deepem-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(folder);
        var asPostgres = Environment.UserName == "root";
        try
        {
            if (asPostgres) Run("chown", ["postgres:postgres", folder]);
            Run(Path.Combine(bin, "initdb"), ["-D", Path.Combine(folder, "data"), "-U", "deepem", "--auth=trust", "-E", "UTF8", "--no-sync"], asPostgres);
            // A port is free when it can be bound; another process may take it before the server does, so try a few.
            for (var attempt = 1; ; attempt++)
            {
                var port = FreeLoopbackPort();
                try
                {
                    Run(Path.Combine(bin, "pg_ctl"), ["-D", Path.Combine(folder, "data"), "-l", Path.Combine(folder, "server.log"), "-w", "-t", "60",
                        "-o", $"-h 127.0.0.1 -p {port} -k {folder}", "start"], asPostgres);
                    return new LocalPostgres(bin, folder, asPostgres, port);
                }
                catch (InvalidOperationException) when (attempt < 4)
                {
                }
            }
        }
        catch
        {
            TryDelete(folder);
            throw;
        }
    }

    private static int FreeLoopbackPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static void Run(string program, IReadOnlyList<string> args, bool asPostgres = false)
    {
        var start = new ProcessStartInfo(asPostgres ? "runuser" : program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (asPostgres)
        {
            foreach (var a in new[] { "-u", "postgres", "--", program }) start.ArgumentList.Add(a);
        }
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} could not be started");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(program)} {string.Join(' ', args)} exited with {process.ExitCode}: {error.Result.Trim()} {output.Result.Trim()}");
        }
    }

    private static void TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    public void Dispose()
    {
        try
        {
            Run(Path.Combine(_bin, "pg_ctl"), ["-D", Path.Combine(_folder, "data"), "-m", "fast", "-w", "stop"], _asPostgres);
        }
        catch (InvalidOperationException)
        {
            // Stopped already, or never fully started: the folder goes anyway.
        }
        TryDelete(_folder);
    }
}
