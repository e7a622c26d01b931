using DeepEM.Classification.Steps;
using DeepEM.Pipeline.Classification;

namespace DeepEM.Cluster.Protocol;

// Reference-free 2D classification (deepem classify): the client that runs the classification drives it (a
// classification is minutes to hours, not a campaign of days: it keeps no journal, and the same command runs it
// again). Every worker node's classification worker cuts the particles of the shards it is given from the
// micrographs (shared storage, as for picking) and keeps them; each step goes to every worker with the list of its
// shards, and each shard's part comes back on its own. The steps and parts are DeepEM.Classification's records.

/// <summary>Cut and keep the particles of one shard (the micrographs are read from their paths).</summary>
internal sealed record LoadParticleShard(string JobId, ExtractionSettings Settings, ParticleShardSpec Shard) : IClusterMessage;

/// <summary>A shard is ready: how many particles it holds, picks left out near an edge, and micrographs that could not be read.</summary>
internal sealed record ParticleShardLoaded(string JobId, int Shard, string Node, int Particles, int Skipped, IReadOnlyList<string> Failures) : IClusterMessage;

/// <summary>Compute <see cref="Step"/> for each of <see cref="Shards"/> (loaded on this worker), one part each.</summary>
internal sealed record ClassificationTask(string JobId, int[] Shards, ClassificationStep Step) : IClusterMessage;

/// <summary>One shard's part of a step.</summary>
internal sealed record ClassificationPart(string JobId, int Step, string Node, double Seconds, ShardResult Result) : IClusterMessage;

/// <summary>A worker could not load a shard (<see cref="Step"/> −1) or compute its part of a step.</summary>
internal sealed record ClassificationRefused(string JobId, int Step, int Shard, string Node, string Reason) : IClusterMessage;

/// <summary>The classification is over: workers drop its particles.</summary>
internal sealed record ForgetClassification(string JobId) : IClusterMessage;
