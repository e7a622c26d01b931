using DeepEM.Cluster.Protocol;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.Training;

namespace DeepEM.Cluster.Training;

/// <summary>A message the planner has decided to send to one worker; the actor sends it.</summary>
internal readonly record struct Send<TWorker>(TWorker To, IClusterMessage Message);

/// <summary>
/// One step of a training spread over workers. The batch's chunks of 16 boxes are cut into contiguous slices, one per
/// worker; a slice's answer is put together from its parts and used once, whoever sends it; when every slice is in,
/// the chunks' gradients are added in chunk order from zero, the additions one process makes, so the sum does not
/// depend on how many workers helped or which computed what. Knows nothing of actors: a worker is whatever the
/// caller names it by.
/// </summary>
internal sealed class StepPlan<TWorker> where TWorker : class
{
    private sealed class Slice(int first, int count)
    {
        public int First { get; } = first;
        public int Count { get; } = count;
        public TWorker? Worker { get; set; }
        public DateTimeOffset SentAt { get; set; }
        public bool Done { get; set; }
        public double ComputeSeconds { get; set; }
        public int Refusals { get; set; }
        public Dictionary<TWorker, (float[] Values, int Filled)> Parts { get; } = [];
    }

    private readonly TrainingSpec _spec;
    private readonly Sample[] _batch;
    private readonly float[] _weights;
    private readonly string _weightsSha;
    private readonly int _floatsPerMessage;
    private readonly float[]?[] _gradients;
    private readonly double[] _losses;
    private readonly List<Slice> _slices = [];

    /// <param name="slices">How many slices to cut (the number of workers at hand); at least one, at most one per chunk.</param>
    public StepPlan(TrainingSpec spec, long step, Sample[] batch, float[] weights, int floatsPerMessage, int slices, DateTimeOffset startedAt)
    {
        _spec = spec;
        Step = step;
        _batch = batch;
        _weights = weights;
        _weightsSha = FloatBytes.Sha256Hex(weights);
        _floatsPerMessage = floatsPerMessage;
        StartedAt = startedAt;
        var chunks = GradientChunks.Count(batch.Length);
        _gradients = new float[chunks][];
        _losses = new double[chunks];
        var k = Math.Clamp(slices, 1, Math.Max(1, chunks));
        var first = 0;
        for (var i = 0; i < k; i++)
        {
            var count = chunks / k + (i < chunks % k ? 1 : 0);
            _slices.Add(new Slice(first, count));
            first += count;
        }
    }

    public long Step { get; }

    public DateTimeOffset StartedAt { get; }

    /// <summary>Boxes in the step's batch.</summary>
    public int Boxes => _batch.Length;

    /// <summary>The slices as (first chunk, chunks), in chunk order.</summary>
    public IReadOnlyList<(int First, int Count)> Slices => _slices.Select(s => (s.First, s.Count)).ToList();

    /// <summary>Bytes of weights, samples, gradients and losses sent and received for this step so far.</summary>
    public long Bytes { get; private set; }

    public bool Complete => _slices.All(s => s.Done);

    /// <summary>No slice has gone out: the step waits for any worker.</summary>
    public bool Unassigned => _slices.All(s => s.Worker is null && !s.Done);

    /// <summary>The slowest slice's own compute time (what the step would take without communication).</summary>
    public double ComputeSeconds => _slices.Max(s => s.ComputeSeconds);

    /// <summary>The worker's slices not answered yet.</summary>
    public int OpenSlices(TWorker worker) => _slices.Count(s => !s.Done && Equals(s.Worker, worker));

    /// <summary>Each slice without a worker goes to the next of <paramref name="workers"/> in turn.</summary>
    public void Assign(IReadOnlyList<TWorker> workers, DateTimeOffset now, List<Send<TWorker>> sends)
    {
        if (workers.Count == 0) return;
        for (var i = 0; i < _slices.Count; i++)
        {
            if (_slices[i].Worker is null && !_slices[i].Done) SendSlice(_slices[i], workers[i % workers.Count], now, sends);
        }
    }

    /// <summary>
    /// The open slices held by <paramref name="worker"/> (null: those without a worker) go to the candidate with the fewest
    /// open slices, the first of equals; with no candidate they wait for one.
    /// </summary>
    public void Resend(TWorker? worker, IReadOnlyList<TWorker> candidates, DateTimeOffset now, List<Send<TWorker>> sends)
    {
        foreach (var slice in _slices.Where(s => !s.Done && Equals(s.Worker, worker)).ToList()) ResendSlice(slice, worker, candidates, now, sends);
    }

    private void ResendSlice(Slice slice, TWorker? failed, IReadOnlyList<TWorker> candidates, DateTimeOffset now, List<Send<TWorker>> sends)
    {
        var others = candidates.Where(w => !Equals(w, failed)).ToList();
        if (others.Count == 0) others = [.. candidates];
        if (others.Count == 0)
        {
            slice.Worker = null;
            return;
        }
        var least = others.MinBy(OpenSlices)!;
        SendSlice(slice, least, now, sends);
    }

    /// <summary>Workers with a slice out for longer than <paramref name="timeout"/>, with the chunks they hold.</summary>
    public IReadOnlyList<(TWorker Worker, int First, int Count)> Overdue(DateTimeOffset now, TimeSpan timeout) =>
        _slices.Where(s => !s.Done && s.Worker is not null && now - s.SentAt > timeout).Select(s => (s.Worker!, s.First, s.Count)).ToList();

    private void SendSlice(Slice slice, TWorker worker, DateTimeOffset now, List<Send<TWorker>> sends)
    {
        slice.Worker = worker;
        slice.SentAt = now;
        // Weights over one message go ahead in parts; the task carries the last part.
        var per = _floatsPerMessage;
        var lastOffset = _weights.Length == 0 ? 0 : (_weights.Length - 1) / per * per;
        for (var offset = 0; offset < lastOffset; offset += per)
        {
            sends.Add(new(worker, new WeightsPart(_spec.JobId, Step, offset, _weights.Length, _weights.AsSpan(offset, per).ToArray())));
        }
        var start = slice.First * GradientChunks.Size;
        var end = Math.Min(_batch.Length, (slice.First + slice.Count) * GradientChunks.Size);
        var samples = _batch.AsSpan(start, end - start);
        var boxes = new int[samples.Length];
        var rotations = new int[samples.Length];
        for (var i = 0; i < samples.Length; i++)
        {
            boxes[i] = samples[i].Box;
            rotations[i] = samples[i].Rotation;
        }
        sends.Add(new(worker, new GradientTask(_spec.JobId, Step, _spec.Preset, _spec.BoxSize, _spec.Loss, _spec.TrainingSet, _weightsSha,
            lastOffset, _weights.Length, _weights.AsSpan(lastOffset).ToArray(), slice.First, boxes, rotations)));
        Bytes += 4L * _weights.Length + 8L * samples.Length;
    }

    /// <summary>
    /// Takes one part of a slice's answer; true when it completed the step. Parts of another step, of no slice, of a
    /// slice already answered or of the wrong shape are ignored; parts from two workers for one slice are kept apart, and
    /// the first whole answer is used.
    /// </summary>
    public bool Take(TWorker from, GradientPart part, int parameterCount)
    {
        if (part.JobId != _spec.JobId || part.Step != Step) return false;
        var slice = _slices.FirstOrDefault(s => s.First == part.FirstChunk);
        if (slice is null || slice.Done || part.Chunks != slice.Count || part.Total != (long)slice.Count * parameterCount
            || part.Losses.Length != slice.Count || part.Offset < 0 || part.Offset + part.Values.Length > part.Total)
        {
            return false;
        }
        if (!slice.Parts.TryGetValue(from, out var buffer)) buffer = (new float[part.Total], 0);
        part.Values.CopyTo(buffer.Values, part.Offset);
        buffer.Filled += part.Values.Length;
        slice.Parts[from] = buffer;
        Bytes += 4L * part.Values.Length + 8L * part.Losses.Length;
        if (buffer.Filled < part.Total) return false;

        slice.Done = true;
        slice.ComputeSeconds = part.ComputeSeconds;
        slice.Parts.Clear();
        for (var c = 0; c < slice.Count; c++)
        {
            _gradients[slice.First + c] = buffer.Values.AsSpan(c * parameterCount, parameterCount).ToArray();
            _losses[slice.First + c] = part.Losses[c];
        }
        return Complete;
    }

    /// <summary>
    /// A worker refused its slice: the refusal is counted, and below <paramref name="limit"/> refusals the slice goes to
    /// another candidate. Null when the refusal is of no open slice of that worker's; the slice's refusals so far otherwise.
    /// </summary>
    public int? Refused(TWorker from, GradientRefused refused, IReadOnlyList<TWorker> candidates, DateTimeOffset now, List<Send<TWorker>> sends, int limit)
    {
        if (refused.JobId != _spec.JobId || refused.Step != Step) return null;
        var slice = _slices.FirstOrDefault(s => s.First == refused.FirstChunk && !s.Done && Equals(s.Worker, from));
        if (slice is null) return null;
        if (++slice.Refusals < limit) ResendSlice(slice, from, candidates, now, sends);
        return slice.Refusals;
    }

    /// <summary>The batch's gradient and loss: every chunk's, added in chunk order from zero.</summary>
    public (float[] Gradient, double Loss) Sum(int parameterCount)
    {
        if (!Complete) throw new InvalidOperationException($"step {Step} has {_slices.Count(s => !s.Done)} slices to come");
        var sum = new float[parameterCount];
        double loss = 0;
        for (var c = 0; c < _gradients.Length; c++)
        {
            var g = _gradients[c]!;
            for (var i = 0; i < parameterCount; i++) sum[i] += g[i];
            loss += _losses[c];
        }
        return (sum, loss);
    }
}
