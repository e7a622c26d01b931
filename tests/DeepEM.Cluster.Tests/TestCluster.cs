using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Serialization;
using DeepEM.Cli.Workflows;
using DeepEM.Cluster.Clients;
using DeepEM.Cluster.Nodes;
using DeepEM.Cluster.Picking;
using DeepEM.Cluster.Protocol;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.Training;
using DeepEM.Pipeline.Picking;
using DeepEM.Pipeline.Training;
using DeepEM.Simulation;
using DeepEM.TestSupport;

namespace DeepEM.Cluster.Tests;

/// <summary>
/// Cluster tests start real nodes on loopback; they run one at a time (2 cores, timing-sensitive failure detection), and
/// with <see cref="ClusterTestLock"/> switched on never beside the node processes of DeepEM.Cli.Tests.
/// </summary>
[CollectionDefinition("cluster")]
public sealed class ClusterCollection : ICollectionFixture<ClusterData>;

/// <summary>
/// A model trained on simulated micrographs, 40 simulated test micrographs, and their picks from a one-node run
/// (the embedded default) to compare every cluster run with.
/// </summary>
public sealed class ClusterData : IDisposable
{
    private readonly ClusterTestLock _lock = new();

    public ClusterData()
    {
        var settings = new SimulationSettings { Size = 768, BoxSize = 48 };
        var train = SimulatedDataset.Write(Temp.File("train"), settings, 4, 31);
        Micrographs = SimulatedDataset.Write(Temp.File("test"), settings with { Size = 512 }, 40, 32).Micrographs;
        var outcome = TrainingWorkflow.Run(new TrainingRequest
        {
            Micrographs = train.Micrographs, Coordinates = Temp.File("train/truth"), BoxSize = 48, Epochs = 3,
        });
        File.WriteAllBytes(Model, outcome.Model.ToBytes());
        TrainingBoxes = outcome.Data.Boxes;
        // The reference is the Pipeline's picker in a plain loop, without actors: every cluster run must write exactly its files.
        var reference = PickingWorkflow.Run(outcome.Model, Micrographs, Reference, new PickSettings(), PickSettings.DefaultFormats, DeviceChoice.Cpu);
        Assert.True(reference.Picked == Micrographs.Count, $"reference run picked {reference.Picked} of {Micrographs.Count}");
    }

    public TempFolder Temp { get; } = TestPaths.NewTemp();

    public string Model => Temp.File("model.deepem");

    /// <summary>The boxes the model was trained on (particles and non-particles of the simulated training micrographs).</summary>
    public BoxSet TrainingBoxes { get; }

    public IReadOnlyList<string> Micrographs { get; }

    public string Reference => Temp.File("reference");

    public void Dispose()
    {
        Temp.Dispose();
        _lock.Dispose();
    }
}

internal static class TestCluster
{
    private static int _nodes;

    /// <summary>
    /// hocon/test.conf (serialize-messages on, fast failure detection) plus one test-only binding: whatever has no
    /// serializer of its own (System.Object, where Akka would fall back to JSON) is passed by reference. Those are
    /// messages that Akka's modules send to actors of their own node: cluster events (JSON loses a member's age, and
    /// the singletons then disagree on which node is oldest), the SQL journal's WriteFinished (it holds a Task),
    /// distributed data's ReadRepair. Our own messages are all bound to the protobuf serializer and so are checked
    /// for real; <see cref="LocalReferenceSerializer"/> refuses any DeepEM type that reaches it.
    /// </summary>
    public static string Config(string extra = "") => $$"""
        {{extra}}
        akka.actor.serializers.local-reference = "{{typeof(LocalReferenceSerializer).FullName}}, {{typeof(LocalReferenceSerializer).Assembly.GetName().Name}}"
        akka.actor.serialization-bindings { "System.Object" = local-reference }
        akka.actor.serialization-identifiers { "{{typeof(LocalReferenceSerializer).FullName}}, {{typeof(LocalReferenceSerializer).Assembly.GetName().Name}}" = 4712 }
        {{ClusterNode.TestConfiguration}}
        """;

    public static Task<ClusterNode> Start(string? state, IReadOnlyList<string> roles, ClusterNode? seed = null, Func<IMicrographPicking, IMicrographPicking>? wrap = null, string extra = "",
        string? log = null, IReadOnlyList<int>? gpus = null, PickAhead? ahead = null, Numerics.Backends.DeviceChoice device = Numerics.Backends.DeviceChoice.Cpu) =>
        ClusterNode.StartAsync(new NodeOptions
        {
            Roles = roles,
            StateDir = state,
            SeedNodes = seed is null ? [] : [seed.Address.ToString()],
            ExtraConfig = Config(extra),
            Device = device,
            // Lanes numbered as GPUs; on the CPU device each lane is a managed backend of its own.
            Gpus = gpus,
            WrapPicking = wrap,
            PickAhead = ahead,
            LogFile = log ?? (Environment.GetEnvironmentVariable("DEEPEM_TEST_LOGS") is { Length: > 0 } logs
                ? Path.Combine(logs, $"node-{Interlocked.Increment(ref _nodes)}.log")
                : state is null ? null : Path.Combine(state, "node.log")),
        });

    public static async Task<CampaignStatus> Pick(ClusterNode node, ClusterData data, string outDir, Action<MicrographProgress>? progress = null)
    {
        var spec = CampaignSpecs.For(data.Model, data.Micrographs, outDir, new PickSettings());
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var outcome = await new CampaignClient(node).RunAsync(spec, _ => { }, p => progress?.Invoke(p), timeout.Token);
        return outcome.Final;
    }

    /// <summary>Waits until the slots' shard coordinator knows <paramref name="count"/> regions (one per worker node that has joined it).</summary>
    public static async Task WaitForRegions(ClusterNode node, int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        var known = 0;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                var stats = await node.Slots!.Ask<Akka.Cluster.Sharding.ClusterShardingStats>(
                    new Akka.Cluster.Sharding.GetClusterShardingStats(TimeSpan.FromSeconds(3)), TimeSpan.FromSeconds(5));
                known = stats.Regions.Count;
                if (known >= count) return;
            }
            catch (AskTimeoutException)
            {
                // The shard coordinator is not there yet: ask again.
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"sharding knew {known} regions of the {count} awaited");
    }

    /// <summary>Asks the campaign coordinator for the campaign of <paramref name="outDir"/> until its status meets <paramref name="condition"/>.</summary>
    public static async Task<CampaignStatus> WaitForStatus(ClusterNode node, string outDir, Func<CampaignStatus, bool> condition)
    {
        var id = CampaignClient.CampaignIdOf(Path.GetFullPath(outDir));
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        CampaignStatus? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                last = (await new CampaignClient(node).StatusAsync(id, TimeSpan.FromSeconds(5))).SingleOrDefault();
                if (last is not null && condition(last)) return last;
            }
            catch (AskTimeoutException)
            {
                // The coordinator singleton is not there yet: ask again.
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"the campaign of {outDir} never came to the state awaited; last: {last}");
    }

    /// <summary>Waits until the training coordinator knows <paramref name="count"/> gradient workers (they announce themselves every 2 s).</summary>
    public static async Task WaitForTrainers(ClusterNode node, int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var known = 0;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                known = (await node.Training.Ask<Trainers>(GetTrainers.Instance, TimeSpan.FromSeconds(5))).Nodes.Count;
                if (known >= count) return;
            }
            catch (AskTimeoutException)
            {
                // The coordinator singleton is not there yet (or is recovering): ask again.
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"the training coordinator knew {known} of {count} gradient workers after 60 s");
    }

    /// <summary>Each micrograph has exactly one .star, byte for byte the reference run's, and nothing half-written is left.</summary>
    public static void AssertSameAsReference(ClusterData data, string outDir)
    {
        var names = data.Micrographs.Select(Path.GetFileNameWithoutExtension).ToList();
        var stars = Directory.GetFiles(outDir, "*.star").Select(Path.GetFileName).Where(n => n != "autopick.star").Order().ToList();
        Assert.Equal(names.Select(n => n + ".star").Order(), stars);
        foreach (var name in names)
        {
            Assert.Equal(File.ReadAllText(Path.Combine(data.Reference, name + ".star")), File.ReadAllText(Path.Combine(outDir, name + ".star")));
            Assert.Equal(File.ReadAllText(Path.Combine(data.Reference, name + ".box")), File.ReadAllText(Path.Combine(outDir, name + ".box")));
        }
        Assert.Empty(Directory.GetFiles(outDir, "*.tmp*"));
        Assert.True(File.Exists(Path.Combine(outDir, "autopick.star")));
    }
}

/// <summary>A picking engine that takes at least <paramref name="delay"/> per micrograph: a slow node.</summary>
internal sealed class SlowPicking(IMicrographPicking inner, TimeSpan delay) : IMicrographPicking
{
    public async Task<PickOutcome> PickAsync(PickTask task, string node, CancellationToken cancel)
    {
        // Timers run on a millisecond tick and can fire a little early: wait until a Stopwatch (the clock the
        // node's own metrics use) says the whole delay has passed.
        var started = System.Diagnostics.Stopwatch.StartNew();
        var result = await inner.PickAsync(task, node, cancel);
        while (started.Elapsed < delay) await Task.Delay(delay - started.Elapsed + TimeSpan.FromMilliseconds(1), cancel);
        return result;
    }
}

/// <summary>
/// A node whose picks wait until the test releases them: it holds what it was handed, so what the others do is not a
/// race against its speed.
/// </summary>
internal sealed class HeldPicking(IMicrographPicking inner) : IMicrographPicking
{
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the first pick is in hand.</summary>
    public Task Entered => _entered.Task;

    public void Release() => _release.TrySetResult();

    public async Task<PickOutcome> PickAsync(PickTask task, string node, CancellationToken cancel)
    {
        _entered.TrySetResult();
        await _release.Task.WaitAsync(cancel);
        return await inner.PickAsync(task, node, cancel);
    }
}

/// <summary>
/// Holds every pick until <paramref name="expected"/> are in hand at once (or a minute has passed, and the count says
/// so): how many micrographs a node works on at the same time, which is how many slots it was given.
/// </summary>
internal sealed class GatedPicking(IMicrographPicking inner, int expected) : IMicrographPicking
{
    private readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _inFlight;
    private int _most;

    public int MostAtOnce => Volatile.Read(ref _most);

    public async Task<PickOutcome> PickAsync(PickTask task, string node, CancellationToken cancel)
    {
        var now = Interlocked.Increment(ref _inFlight);
        int most;
        while (now > (most = Volatile.Read(ref _most)) && Interlocked.CompareExchange(ref _most, now, most) != most)
        {
        }
        if (now >= expected) _all.TrySetResult();
        try
        {
            await _all.Task.WaitAsync(TimeSpan.FromMinutes(1), cancel).ContinueWith(_ => { }, TaskContinuationOptions.ExecuteSynchronously);
            return await inner.PickAsync(task, node, cancel);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }
}

/// <summary>Test-only: passes in-process objects through serialize-messages by reference (see <see cref="TestCluster.Config"/>).</summary>
public sealed class LocalReferenceSerializer(ExtendedActorSystem system) : Serializer(system)
{
    private static readonly ConcurrentDictionary<long, object> Objects = new();
    private static long _next;

    public override int Identifier => 4712;

    public override bool IncludeManifest => false;

    public override byte[] ToBinary(object obj)
    {
        if (obj.GetType().Assembly.GetName().Name!.StartsWith("DeepEM", StringComparison.Ordinal))
        {
            throw new System.Runtime.Serialization.SerializationException($"{obj.GetType()} has no serializer binding: mark it IClusterMessage or INoSerializationVerificationNeeded");
        }
        var id = Interlocked.Increment(ref _next);
        Objects[id] = obj;
        return BitConverter.GetBytes(id);
    }

    public override object FromBinary(byte[] bytes, Type type) =>
        Objects.TryRemove(BitConverter.ToInt64(bytes), out var obj) ? obj : throw new InvalidOperationException("unknown local reference");
}
