using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using DeepEM.Cluster.Clients;
using DeepEM.Cluster.Diagnostics;
using DeepEM.Cluster.Blobs;
using DeepEM.Cluster.Nodes;
using DeepEM.Cluster.Protocol;
using DeepEM.Numerics.Network;
using DeepEM.Pipeline.Picking;
using DeepEM.TestSupport;

namespace DeepEM.Cluster.Tests;

/// <summary>What an operator relies on: metrics while a campaign runs, health probes, structured logs, and the
/// checks on what arrives over the network (names that would leave the output folder, the bound address).</summary>
[Collection("cluster")]
public sealed class OperationsTests(ClusterData data)
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>The value of one sample of the Prometheus text format, e.g. <c>deepem_queue_depth{campaign="x"}</c>; null if absent.</summary>
    internal static double? Sample(string scrape, string series)
    {
        foreach (var line in scrape.Split('\n'))
        {
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
            {
                return double.Parse(line[(series.Length + 1)..].Trim(), CultureInfo.InvariantCulture);
            }
        }
        return null;
    }

    [Fact]
    public async Task Metrics_are_scraped_while_a_campaign_runs_and_every_log_line_names_its_campaign_and_micrograph()
    {
        using var temp = TestPaths.NewTemp();
        var log = temp.File("node.log");
        // Slow enough (0.25 s a micrograph, 2 slots) that the campaign runs for several seconds of scrapes.
        await using var node = await TestCluster.Start(temp.File("state"), [Roles.Worker, Roles.Coordinator],
            wrap: p => new SlowPicking(p, TimeSpan.FromMilliseconds(250)),
            extra: "deepem.metrics.port = 0\ndeepem.log.format = json", log: log);
        // Port 0: any free port, the one the endpoint holds read back.
        var url = node.Endpoint!.Url;
        Assert.Matches(@"^http://127\.0\.0\.1:[1-9][0-9]*$", url);

        var ready = await Http.GetAsync($"{url}/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("up", (await ready.Content.ReadAsStringAsync()).Trim());
        Assert.Equal(HttpStatusCode.OK, (await Http.GetAsync($"{url}/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Http.GetAsync($"{url}/nothing-here")).StatusCode);

        var spec = CampaignSpecs.For(data.Model, data.Micrographs, temp.File("out"), new PickSettings());
        var campaign = spec.CampaignId;
        var picking = TestCluster.Pick(node, data, temp.File("out"));
        var midway = new List<(double Picked, double Queue)>();
        while (!picking.IsCompleted)
        {
            var scrape = await Http.GetStringAsync($"{url}/metrics");
            var picked = Sample(scrape, $"deepem_micrographs_picked_total{{campaign=\"{campaign}\"}}") ?? 0;
            var queue = Sample(scrape, $"deepem_queue_depth{{campaign=\"{campaign}\"}}");
            if (queue is { } q && picked > 0 && picked < data.Micrographs.Count) midway.Add((picked, q));
            await Task.Delay(300);
        }
        var final = await picking;
        Assert.Equal(data.Micrographs.Count, final.Done);
        // Scraped while it ran: some micrographs picked, others still queued, and the counts moved between scrapes.
        Assert.True(midway.Count >= 3, $"only {midway.Count} scrapes caught the campaign running");
        Assert.Contains(midway, m => m.Queue > 0);
        Assert.True(midway[^1].Picked > midway[0].Picked, "the picked count did not move between scrapes");
        Assert.True(midway.Zip(midway.Skip(1), (before, after) => after.Picked >= before.Picked).All(up => up), "a counter went down");

        var end = await Http.GetStringAsync($"{url}/metrics");
        Assert.Equal(data.Micrographs.Count, Sample(end, $"deepem_micrographs_picked_total{{campaign=\"{campaign}\"}}"));
        Assert.Equal(final.Particles, Sample(end, $"deepem_particles_total{{campaign=\"{campaign}\"}}"));
        Assert.Equal(0, Sample(end, $"deepem_queue_depth{{campaign=\"{campaign}\"}}"));
        Assert.Equal(data.Micrographs.Count, Sample(end, $"deepem_campaign_micrographs_settled{{campaign=\"{campaign}\"}}"));
        Assert.Equal(data.Micrographs.Count, Sample(end, "deepem_micrograph_seconds_count"));
        // Every micrograph took at least the 0.25 s of the slow node.
        var secondsSum = Sample(end, "deepem_micrograph_seconds_sum");
        Assert.True(secondsSum >= 0.25 * data.Micrographs.Count, $"deepem_micrograph_seconds_sum {secondsSum} for {data.Micrographs.Count} micrographs of at least 0.25 s");
        Assert.Equal(1, Sample(end, $"deepem_model_info{{model=\"{spec.ModelSha256[..12]}\",use=\"picking\"}}"));
        Assert.Equal(1, Sample(end, "deepem_cluster_members{status=\"up\"}"));
        Assert.True(Sample(end, "process_cpu_seconds_total") > 0);

        // JSON lines, each a complete object; one "picked" line per micrograph naming its campaign and micrograph.
        await node.DisposeAsync();
        var lines = File.ReadAllLines(log).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.All(lines, l =>
        {
            Assert.True(l.TryGetProperty("time", out _) && l.TryGetProperty("level", out _) && l.TryGetProperty("msg", out _));
        });
        var aboutMicrographs = lines.Where(l => l.TryGetProperty("micrograph", out _)).ToList();
        Assert.All(aboutMicrographs, l => Assert.Equal(campaign, l.GetProperty("campaign").GetString()));
        var pickedLines = aboutMicrographs.Where(l => l.GetProperty("msg").GetString()!.StartsWith("picked ", StringComparison.Ordinal)).ToList();
        Assert.Equal(data.Micrographs.Select(Path.GetFileNameWithoutExtension).Order(), pickedLines.Select(l => l.GetProperty("micrograph").GetString()).Order());
        Assert.Contains(lines, l => l.TryGetProperty("campaign", out var c) && c.GetString() == campaign && l.GetProperty("msg").GetString()!.StartsWith("complete:", StringComparison.Ordinal));
        // The node's address is known in every line once remoting listens.
        Assert.All(pickedLines, l => Assert.Equal(node.HostPort, l.GetProperty("node").GetString()));
    }

    [Fact]
    public void Text_log_lines_are_logfmt_with_quoted_values()
    {
        var line = new LogLine(LogFields.ForCampaign("pick-1", "mic 7 \"b\""), "picked 3 particles");
        Assert.Equal("campaign=pick-1 micrograph=\"mic 7 \\\"b\\\"\" picked 3 particles", line.ToString());
        Assert.Equal("\"\"", LogFormat.Quote(""));
        Assert.Equal("\"a=b\\nc\"", LogFormat.Quote("a=b\nc"));
        Assert.Equal("training=t step=12", new LogLine(LogFields.ForTraining("t", 12), "").ToString().Trim());
    }

    /// <summary>
    /// At debug level the actor system logs while it starts, before remoting listens. Those lines are written without a
    /// node address; before the mend, asking Akka.Remote for the address then threw, the logger stopped, and each such line
    /// was lost and replaced by an error about the logger.
    /// </summary>
    [Fact]
    public async Task A_node_at_debug_level_logs_its_first_lines_without_an_address_and_no_error_about_its_logger()
    {
        using var temp = TestPaths.NewTemp();
        var log = temp.File("node.log");
        var node = await ClusterNode.StartAsync(new NodeOptions
        {
            Roles = [Roles.Worker], Device = Numerics.Backends.DeviceChoice.Cpu, LogFile = log, LogLevel = "DEBUG",
            ExtraConfig = TestCluster.Config(""),
        });
        var address = node.HostPort;
        await node.DisposeAsync();
        var lines = File.ReadAllLines(log);
        // Nothing comes from the logger actor itself: the error about the stopped logger had that source.
        Assert.DoesNotContain(lines, l => l.Contains("source=akka://deepem/system/log1-NodeLogger", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(" error ", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("NullReferenceException", StringComparison.Ordinal));
        // The actor system's own first lines, logged before remoting listens, are there, without an address.
        var loggersStarted = Assert.Single(lines, l => l.Contains("msg=\"Default Loggers started\"", StringComparison.Ordinal));
        Assert.Contains("node=\"\"", loggersStarted);
        var listening = Array.FindIndex(lines, l => l.Contains("Remoting started", StringComparison.Ordinal));
        Assert.True(listening > Array.IndexOf(lines, loggersStarted), string.Join('\n', lines.Take(12)));
        // From the line after remoting listens on, every line names the node.
        Assert.All(lines.Skip(listening + 1), l => Assert.Contains($"node={address}", l));
    }

    [Fact]
    public async Task Names_from_the_network_that_would_leave_the_output_folder_are_refused()
    {
        using var temp = TestPaths.NewTemp();
        await using var node = await TestCluster.Start(temp.File("state"), [Roles.Worker, Roles.Coordinator]);
        var outDir = temp.File("campaigns/out");
        var good = data.Micrographs[0];
        foreach (var bad in new[] { "../outside", "..", "a/../../b", "a//b", ".hidden/x", "/etc/passwd", "sub\\dir", "nul\0name", "" })
        {
            // A client that names its micrographs itself: names may be paths inside the folder (a RELION layout), nothing more.
            var spec = CampaignSpecs.For(data.Model, [good], outDir, new PickSettings());
            spec = spec with { CampaignId = "bad-" + Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(bad)), Micrographs = [new MicrographRef(bad, good), new MicrographRef("fine", good)] };
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var e = await Assert.ThrowsAsync<CampaignRejectedException>(() => new CampaignClient(node).RunAsync(spec, _ => { }, _ => { }, timeout.Token));
            Assert.Contains("micrograph name", e.Message);
            Assert.Contains("cannot be a path in the output folder", e.Message);
        }
        // Refused before anything was written: not even the output folder was made, and nothing lies beside it.
        Assert.False(Directory.Exists(temp.File("campaigns")));
        Assert.False(File.Exists(temp.File("outside.star")));

        // A training id names checkpoint files in the coordinator's state folder.
        var boxes = DeepEM.Numerics.Training.BoxSetFile.ToBytes(data.TrainingBoxes);
        File.WriteAllBytes(temp.File("boxes.set"), boxes);
        var training = new TrainingSpec("../../escaped", Presets.Default, data.TrainingBoxes.BoxSize,
            new BlobRef(HashedFiles.Sha256Hex(boxes), temp.File("boxes.set"), boxes.Length), null, 1, 48, 0.05f, 0.9f, "squared-error", 0.1, 1, 0);
        using var trainingTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var refused = await Assert.ThrowsAsync<CampaignRejectedException>(() => new TrainingClient(node).RunAsync(training, _ => { }, _ => { }, trainingTimeout.Token));
        Assert.Contains("training id '../../escaped' cannot be a file name", refused.Message);
        Assert.False(Directory.Exists(temp.File("escaped")) || File.Exists(temp.File("escaped.parameters")));
    }

    [Fact]
    public async Task Remoting_and_the_metrics_endpoint_listen_only_on_the_configured_address()
    {
        using var temp = TestPaths.NewTemp();
        await using var node = await TestCluster.Start(temp.File("state"), [Roles.Worker, Roles.Coordinator], extra: "deepem.metrics.port = 0");
        var metricsPort = new Uri(node.Endpoint!.Url).Port;
        var listening = ListeningSockets();
        foreach (var port in new[] { node.Address.Port!.Value, metricsPort })
        {
            var mine = listening.Where(l => l.Port == port).ToList();
            Assert.NotEmpty(mine);
            // 127.0.0.1 only: not 0.0.0.0, not [::].
            Assert.All(mine, l => Assert.Equal(IPAddress.Loopback, l.Address));
        }
    }

    [Fact]
    public async Task With_TLS_only_a_process_holding_the_cluster_certificate_joins()
    {
        using var temp = TestPaths.NewTemp();
        SelfSignedCertificate(temp.File("cluster.pfx"), "s3cret");
        SelfSignedCertificate(temp.File("other.pfx"), "");
        static string Tls(string path, string password) => $$"""
            deepem.tls { certificate = "{{path}}", password = "{{password}}" }
            deepem.cluster.join-timeout = 8s
            akka.cluster.seed-node-timeout = 2s
            akka.cluster.retry-unsuccessful-join-after = 2s
            """;
        await using var seed = await TestCluster.Start(temp.File("state"), [Roles.Worker, Roles.Coordinator], extra: Tls(temp.File("cluster.pfx"), "s3cret"));
        Assert.StartsWith("akka.ssl.tcp://deepem@127.0.0.1:", seed.Address.ToString());

        Task<ClusterNode> Intruder(string extra) => ClusterNode.StartAsync(new NodeOptions
        {
            Roles = [Roles.Worker], SeedNodes = [seed.HostPort], ExtraConfig = TestCluster.Config(extra), Device = Numerics.Backends.DeviceChoice.Cpu,
            LogFile = temp.File($"intruder-{Guid.NewGuid():N}.log"),
        });
        // No TLS at all: the handshake never happens.
        await Assert.ThrowsAsync<TimeoutException>(() => Intruder("deepem.cluster.join-timeout = 8s\nakka.cluster.retry-unsuccessful-join-after = 2s"));
        // TLS with a certificate of its own: the cluster does not trust it (and it does not trust the cluster's).
        await Assert.ThrowsAsync<TimeoutException>(() => Intruder(Tls(temp.File("other.pfx"), "")));
        Assert.Single(seed.Cluster.State.Members);

        // The cluster's certificate: joins, and talks to the coordinator singleton over TLS.
        await using var member = await ClusterNode.StartAsync(new NodeOptions
        {
            Roles = [Roles.Worker], SeedNodes = [seed.HostPort], ExtraConfig = TestCluster.Config(Tls(temp.File("cluster.pfx"), "s3cret")),
            Device = Numerics.Backends.DeviceChoice.Cpu, LogFile = temp.File("member.log"),
        });
        Assert.Equal(2, seed.Cluster.State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up));
        Assert.Empty(await new CampaignClient(member).StatusAsync("", TimeSpan.FromSeconds(30)));

        // A wrong password is one clear line, before anything starts.
        var wrong = await Assert.ThrowsAsync<ArgumentException>(() => TestCluster.Start(null, [Roles.Worker], extra: Tls(temp.File("cluster.pfx"), "wrong")));
        Assert.StartsWith($"{temp.File("cluster.pfx")}: cannot load the TLS certificate", wrong.Message);
    }

    /// <summary>A cluster certificate as a site would make one (RSA 2048, server and client use), as PKCS#12.</summary>
    private static void SelfSignedCertificate(string path, string password)
    {
        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=deepem-test-cluster", rsa,
            System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509EnhancedKeyUsageExtension(
            [new System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.1"), new System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.2")], false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        File.WriteAllBytes(path, certificate.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pfx, password));
    }

    /// <summary>Listening TCP sockets of this machine from /proc/net/tcp and tcp6 (address, port).</summary>
    private static List<IPEndPoint> ListeningSockets()
    {
        var result = new List<IPEndPoint>();
        foreach (var (file, v6) in new[] { ("/proc/net/tcp", false), ("/proc/net/tcp6", true) })
        {
            if (!File.Exists(file)) continue;
            foreach (var line in File.ReadLines(file).Skip(1))
            {
                var fields = Regex.Split(line.Trim(), @"\s+");
                if (fields.Length < 4 || fields[3] != "0A") continue; // 0A: LISTEN
                var local = fields[1].Split(':');
                var bytes = Convert.FromHexString(local[0]);
                // The kernel prints each 32-bit word in host (little-endian) order.
                for (var w = 0; w < bytes.Length; w += 4) Array.Reverse(bytes, w, 4);
                var address = new IPAddress(bytes);
                if (v6 && address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
                result.Add(new IPEndPoint(address, int.Parse(local[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
            }
        }
        return result;
    }
}
