using System.Net;
using System.Text;
using Akka.Actor;

namespace DeepEM.Cluster.Diagnostics;

/// <summary>
/// A node's HTTP endpoint for operators (<c>deepem.metrics</c>; off unless a port is given):
/// <list type="bullet">
/// <item><c>/metrics</c>: <see cref="NodeMetrics"/> in Prometheus' text format.</item>
/// <item><c>/health/live</c>: 200 while the actor system runs (a liveness probe restarts a node that has stopped).</item>
/// <item><c>/health/ready</c>: 200 once this node is an Up member of the cluster, 503 before and while it leaves
/// (a readiness probe, and Slurm or a script waiting for a node).</item>
/// </list>
/// Served by the BCL's <see cref="HttpListener"/>; what it serves is read-only.
/// </summary>
internal sealed class NodeHttpEndpoint : IAsyncDisposable
{
    private readonly HttpListener _listener;
    private readonly ActorSystem _system;
    private readonly NodeMetrics _metrics;
    private readonly Task _serving;

    private NodeHttpEndpoint(ActorSystem system, HttpListener listener, string url)
    {
        _system = system;
        _metrics = NodeMetrics.For(system);
        _listener = listener;
        Url = url;
        _serving = Task.Run(ServeAsync);
    }

    /// <summary>Where it listens (the port it was given, or the one it found), for the node's start line.</summary>
    public string Url { get; }

    /// <summary>
    /// Starts the endpoint if the configuration asks for one (<c>deepem.metrics.port</c>: a port, or 0 for any free
    /// port; off by default); null otherwise.
    /// </summary>
    public static NodeHttpEndpoint? StartIfConfigured(ActorSystem system, string nodeHost)
    {
        var config = system.Settings.Config;
        var value = config.GetString("deepem.metrics.port", "off").Trim();
        if (value is "" or "off" or "false") return null;
        if (!int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            throw new ArgumentException($"deepem.metrics.port = {value}: a port 1..65535, 0 for any free port, or off");
        }
        var host = config.GetString("deepem.metrics.host", "");
        if (host.Length == 0) host = nodeHost;
        // HttpListener names "any address" '+'; a node told to bind 0.0.0.0 (a container) means the same.
        var prefixHost = host is "0.0.0.0" or "*" or "+" ? "+" : host.Contains(':') && !host.StartsWith('[') ? $"[{host}]" : host;
        // HttpListener cannot be given port 0. For any free port, the kernel names one that is free now on that address,
        // and when another process takes it before the listener does, the next one is tried: the port read back is one
        // this node holds. Any other failure (an address not of this machine) is reported at once.
        var probeAddress = prefixHost == "+" ? IPAddress.Any : IPAddress.TryParse(host.Trim('[', ']'), out var parsed) ? parsed : IPAddress.Loopback;
        for (var attempt = 1; ; attempt++)
        {
            var tried = port;
            var listener = new HttpListener { IgnoreWriteExceptions = true };
            try
            {
                if (port == 0) tried = EphemeralPort(probeAddress);
                listener.Prefixes.Add($"http://{prefixHost}:{tried}/");
                listener.Start();
                return new NodeHttpEndpoint(system, listener, $"http://{(prefixHost == "+" ? "0.0.0.0" : prefixHost)}:{tried}");
            }
            catch (HttpListenerException e) when (port == 0 && attempt < 20 && InUse(e))
            {
                listener.Close();
            }
            catch (Exception e) when (e is HttpListenerException or System.Net.Sockets.SocketException)
            {
                listener.Close();
                throw new ArgumentException($"the metrics and health endpoint cannot listen on {host}:{(tried == 0 ? "(any free port)" : tried)} ({e.Message})");
            }
            catch
            {
                listener.Close();
                throw;
            }
        }
    }

    // The managed listener of Linux and macOS reports the socket's error: address in use (SocketError, or errno on Linux
    // and macOS).
    private static bool InUse(HttpListenerException e) =>
        e.ErrorCode is (int)System.Net.Sockets.SocketError.AddressAlreadyInUse or 98 or 48
        || e.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse };

    private static int EphemeralPort(IPAddress address)
    {
        using var probe = new System.Net.Sockets.TcpListener(address, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            _ = Task.Run(() => AnswerAsync(context));
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        var response = context.Response;
        try
        {
            switch (context.Request.Url?.AbsolutePath)
            {
                case "/metrics":
                    response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                    using (var body = new MemoryStream())
                    {
                        await _metrics.Registry.CollectAndExportAsTextAsync(body);
                        response.ContentLength64 = body.Length;
                        body.Position = 0;
                        await body.CopyToAsync(response.OutputStream);
                    }
                    break;
                case "/health/live":
                    await Plain(response, _system.WhenTerminated.IsCompleted ? 503 : 200, _system.WhenTerminated.IsCompleted ? "stopped" : "alive");
                    break;
                case "/health/ready":
                    var status = Akka.Cluster.Cluster.Get(_system).SelfMember.Status;
                    await Plain(response, status == Akka.Cluster.MemberStatus.Up ? 200 : 503, status.ToString().ToLowerInvariant());
                    break;
                default:
                    await Plain(response, 404, "not found: /metrics, /health/live, /health/ready");
                    break;
            }
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
        {
            // The scraper hung up; nothing to answer.
        }
        finally
        {
            response.Close();
        }
    }

    private static async Task Plain(HttpListenerResponse response, int status, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text + "\n");
        response.StatusCode = status;
        response.ContentType = "text/plain; charset=utf-8";
        response.ContentLength64 = bytes.Length;
        await response.OutputStream.WriteAsync(bytes);
    }

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _listener.Stop();
        _listener.Close();
        await _serving;
    }
}
