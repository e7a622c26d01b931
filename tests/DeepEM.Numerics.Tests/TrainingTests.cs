using DeepEM.Imaging.Randomness;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.Backends.Managed;
using DeepEM.Numerics.ModelFile;
using DeepEM.Numerics.ModelFile.Proto;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Training;

namespace DeepEM.Numerics.Tests;

public class TrainingTests
{
    /// <summary>Boxes with a dark disc (particles) or without (noise only), at a modest signal-to-noise ratio.</summary>
    private static BoxSet DiscBoxes(int size, int perClass, ulong seed)
    {
        var rng = new DeterministicRandom(seed);
        var set = new BoxSet(size);
        var box = new float[size * size];
        for (var n = 0; n < 2 * perClass; n++)
        {
            var particle = n % 2 == 0;
            var cx = size / 2 + rng.NextDouble(-2, 2);
            var cy = size / 2 + rng.NextDouble(-2, 2);
            for (var y = 0; y < size; y++)
                for (var x = 0; x < size; x++)
                {
                    var inside = (x - cx) * (x - cx) + (y - cy) * (y - cy) < size * size / 12.0;
                    box[y * size + x] = (float)((particle && inside ? -0.8 : 0) + rng.NextGaussian());
                }
            set.Add(box, particle ? 1 : 0);
        }
        return set;
    }

    [Fact]
    public void Rotations_turn_a_box_by_quarter_turns()
    {
        float[] box = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        var r = new float[9];
        BoxRotation.Rotate(box, r, 3, 1);
        Assert.Equal([3f, 6, 9, 2, 5, 8, 1, 4, 7], r);
        BoxRotation.Rotate(box, r, 3, 2);
        Assert.Equal([9f, 8, 7, 6, 5, 4, 3, 2, 1], r);
        var back = new float[9];
        BoxRotation.Rotate(box, r, 3, 3);
        BoxRotation.Rotate(r, back, 3, 1);
        Assert.Equal(box, back);
    }

    [Fact]
    public void The_eight_symmetries_are_the_mirror_image_turned_and_all_distinct()
    {
        float[] box = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        var s = new float[9];
        BoxRotation.Apply(box, s, 3, 4);
        Assert.Equal([3f, 2, 1, 6, 5, 4, 9, 8, 7], s);
        // Mirrored, then turned: symmetry 4 + r is the quarter turns of the mirror image.
        var mirrored = s.ToArray();
        var turned = new float[9];
        for (var r = 0; r < 4; r++)
        {
            BoxRotation.Apply(box, s, 3, 4 + r);
            BoxRotation.Rotate(mirrored, turned, 3, r);
            Assert.Equal(turned, s);
        }
        // On a box with no symmetry of its own, the eight images differ pairwise; symmetries 0-3 are the rotations.
        var random = new Random(4);
        var asymmetric = Enumerable.Range(0, 25).Select(_ => (float)random.NextDouble()).ToArray();
        var images = Enumerable.Range(0, 8).Select(k =>
        {
            var image = new float[25];
            BoxRotation.Apply(asymmetric, image, 5, k);
            return image;
        }).ToList();
        for (var a = 0; a < 8; a++)
            for (var b = a + 1; b < 8; b++)
                Assert.False(images[a].SequenceEqual(images[b]), $"symmetries {a} and {b} agree");
        for (var r = 0; r < 4; r++)
        {
            BoxRotation.Rotate(asymmetric, turned = new float[25], 5, r);
            Assert.Equal(turned, images[r]);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => BoxRotation.Apply(box, s, 3, 8));
    }

    [Fact]
    public void F2_threshold_is_found_on_a_hand_made_case()
    {
        // Scores and labels: 3 positives, 3 negatives.
        float[] scores = [0.9f, 0.8f, 0.7f, 0.6f, 0.4f, 0.2f];
        float[] labels = [1, 0, 1, 1, 0, 0];
        var best = ThresholdSelection.BestF2(scores, labels);
        // At t = 0.6: P = 3/4, R = 1, F2 = 5·0.75/(3 + 1) = 0.9375, the best of all thresholds.
        Assert.Equal(0.6, best.Threshold, 6);
        Assert.Equal(0.75, best.Precision, 12);
        Assert.Equal(1.0, best.Recall, 12);
        Assert.Equal(0.9375, best.F2, 12);
        var curve = ThresholdSelection.Curve(scores, labels);
        Assert.Equal(6, curve.Count);
        Assert.Equal(2.0 * 0.5 * (1.0 / 3) / (0.5 + 1.0 / 3), curve[1].F1, 12); // t = 0.8: P 1/2, R 1/3
    }

    [Fact]
    public void Validation_split_is_stratified_and_seeded()
    {
        var set = DiscBoxes(12, 50, 1);
        var (train, val) = Trainer.Split(set, 0.2, 9);
        Assert.Equal(20, val.Length);
        Assert.Equal(10, val.Count(i => set.Label(i) > 0.5f));
        Assert.Empty(train.Intersect(val));
        Assert.Equal(val, Trainer.Split(set, 0.2, 9).validation);
        Assert.NotEqual(val, Trainer.Split(set, 0.2, 10).validation);
    }

    [Fact]
    public void Training_learns_and_the_same_seed_gives_the_same_bytes()
    {
        var arch = new NetworkArchitecture("test-20", 20, [new(6, 5, 2), new(12, 3, 2), new(12, 2, 1)]);
        var data = DiscBoxes(20, 150, 2);
        var options = new TrainingOptions { Epochs = 6, BatchSize = 16, Seed = 5, LearningRate = 0.3, Loss = LossKind.CrossEntropy };
        TrainingResult Run()
        {
            using var backend = new ManagedBackend(arch);
            return new Trainer(backend, options).Train(data);
        }
        var first = Run();
        Assert.True(first.ValidationAccuracy >= 0.9, $"validation accuracy {first.ValidationAccuracy:P1}; losses {string.Join(", ", first.Epochs.Select(e => e.TrainingLoss.ToString("0.0000")))}");
        Assert.True(first.Epochs[^1].TrainingLoss < first.Epochs[0].TrainingLoss, "training loss must fall");
        Assert.InRange(first.Threshold.Threshold, 0.01, 0.99);
        Assert.True(first.Threshold.F2 > 0.85);
        var second = Run();
        Assert.Equal(first.Parameters, second.Parameters);
        using var other = new ManagedBackend(arch);
        Assert.NotEqual(first.Parameters, new Trainer(other, options with { Seed = 6 }).Train(data).Parameters);
    }

    [Fact]
    public void Chunk_gradients_added_in_order_are_the_batch_gradient_to_the_bit()
    {
        var arch = new NetworkArchitecture("test-20", 20, [new(6, 5, 2), new(12, 3, 2), new(12, 2, 1)]);
        var data = DiscBoxes(20, 25, 3);
        var n = data.Count; // 50 boxes: three full chunks of 16 and one of 2
        var boxes = new float[n * 400];
        var targets = new float[n];
        TrainingRun.Assemble(data, Enumerable.Range(0, n).Select(i => new Sample(i, i % 4)).ToArray(), boxes, targets);
        var parameters = WeightInitialization.Create(arch, 7);
        using var backend = new ManagedBackend(arch);
        var whole = new float[arch.ParameterCount];
        var loss = backend.Gradient(parameters, boxes, targets, n, LossKind.SquaredError, whole, new float[n]);

        var chunks = GradientChunks.Count(n);
        Assert.Equal(4, chunks);
        var perChunk = new float[chunks * arch.ParameterCount];
        var losses = new double[chunks];
        backend.ChunkGradients(parameters, boxes, targets, n, LossKind.SquaredError, perChunk, losses);
        var sum = new float[arch.ParameterCount];
        for (var c = 0; c < chunks; c++)
            for (var i = 0; i < sum.Length; i++) sum[i] += perChunk[c * arch.ParameterCount + i];
        Assert.Equal(whole, sum);
        Assert.Equal(loss, losses.Sum());
        Assert.True(whole.Max(Math.Abs) > 1e-4f, "a gradient of zeros would prove nothing");
        // The interface's default (one chunk at a time through Gradient) gives the same chunks.
        var viaDefault = new float[perChunk.Length];
        ((IComputeBackend)new OneBoxAtATime(backend)).ChunkGradients(parameters, boxes, targets, n, LossKind.SquaredError, viaDefault, new double[chunks]);
        Assert.Equal(perChunk, viaDefault);
    }

    /// <summary>A backend that only has <see cref="IComputeBackend.Gradient"/>: the default chunking is used.</summary>
    private sealed class OneBoxAtATime(IComputeBackend inner) : IComputeBackend
    {
        public NetworkArchitecture Architecture => inner.Architecture;
        public string Device => "test";
        public Scoring.IDenseScorer CreateDenseScorer(float[] parameters) => inner.CreateDenseScorer(parameters);
        public void Score(ReadOnlySpan<float> parameters, ReadOnlySpan<float> boxes, int count, Span<float> scores) => inner.Score(parameters, boxes, count, scores);
        public double Gradient(ReadOnlySpan<float> parameters, ReadOnlySpan<float> boxes, ReadOnlySpan<float> targets, int count, LossKind loss, Span<float> gradient, Span<float> scores) =>
            inner.Gradient(parameters, boxes, targets, count, loss, gradient, scores);
        public void Dispose() { }
    }

    [Fact]
    public void A_run_resumed_from_a_checkpoint_ends_with_the_same_bytes()
    {
        var arch = new NetworkArchitecture("test-20", 20, [new(6, 5, 2), new(12, 3, 2), new(12, 2, 1)]);
        var data = DiscBoxes(20, 60, 4);
        var options = new TrainingOptions { Epochs = 3, BatchSize = 32, Seed = 8 };
        using var backend = new ManagedBackend(arch);
        var straight = new Trainer(backend, options).Train(data);

        // Stop in the middle of epoch 2, keep only the checkpoint, and go on in a new run.
        var first = new TrainingRun(arch, data, options);
        var gradient = new float[arch.ParameterCount];
        var stopAt = first.StepsPerEpoch + first.StepsPerEpoch / 2;
        void Step(TrainingRun run)
        {
            var samples = run.NextBatch();
            var boxes = new float[samples.Length * 400];
            var targets = new float[samples.Length];
            TrainingRun.Assemble(data, samples, boxes, targets);
            var loss = backend.Gradient(run.Parameters, boxes, targets, samples.Length, options.Loss, gradient, new float[samples.Length]);
            run.ApplyGradient(gradient, loss, samples.Length);
            if (run.EpochComplete) run.FinishEpoch(backend, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        }
        while (first.Step < stopAt) Step(first);
        var resumed = new TrainingRun(arch, data, options, resume: first.Checkpoint());
        Assert.Equal(stopAt, resumed.Step);
        while (!resumed.Finished) Step(resumed);
        var result = resumed.Result(backend);
        Assert.Equal(straight.Parameters, result.Parameters);
        Assert.Equal(straight.BestEpoch, result.BestEpoch);
        Assert.Equal(straight.Epochs.Select(e => e.TrainingLoss), result.Epochs.Select(e => e.TrainingLoss));
    }

    [Fact]
    public void A_batch_normalised_run_steps_on_whole_chunks_and_a_plain_one_on_every_sample()
    {
        // 64 boxes less those the split keeps for validation, in four rotations: samples that fill no whole number of chunks
        // (232 here; the guard below says so if the split ever changes that).
        var data = DiscBoxes(32, 32, 5);
        var options = new TrainingOptions { Epochs = 2, BatchSize = 40, Seed = 3 };
        var plain = new TrainingRun(Presets.Create(Presets.DefaultRelu, 32), data, options);
        var normalised = new TrainingRun(Presets.Create(Presets.BatchNormRelu, 32), data, options);
        var samples = plain.TrainingIndices.Length * 4;
        Assert.True(samples % GradientChunks.Size != 0, $"{samples} samples fill whole chunks: the case tests nothing");

        Assert.Equal(samples, plain.SamplesPerEpoch);
        Assert.Equal(40, plain.BatchBoxes);
        Assert.Equal(Enumerable.Repeat(40, samples / 40).Append(samples % 40).Where(n => n > 0), Steps(plain));

        Assert.Equal(samples / 16 * 16, normalised.SamplesPerEpoch);
        Assert.Equal(32, normalised.BatchBoxes);
        var steps = Steps(normalised);
        Assert.Equal(normalised.SamplesPerEpoch, steps.Sum());
        Assert.All(steps, n => Assert.Equal(0, n % GradientChunks.Size));
        Assert.Equal(normalised.StepsPerEpoch, steps.Count);

        // A batch smaller than a chunk is one chunk.
        Assert.Equal(16, TrainingRun.StepBoxes(Presets.Create(Presets.BatchNormRelu, 32), 5));
        Assert.Equal(5, TrainingRun.StepBoxes(Presets.Create(Presets.DefaultRelu, 32), 5));

        // The samples of one epoch that sit out are others in the next: the shuffle goes on over all of them.
        using var backend = new ManagedBackend(normalised.Architecture);
        var all = Enumerable.Range(0, samples).Select(i => new Sample(normalised.TrainingIndices[i / 4], i % 4)).ToHashSet();
        var first = EpochSamples(normalised, backend);
        var second = EpochSamples(normalised, backend);
        Assert.Equal(normalised.SamplesPerEpoch, first.Count);
        Assert.Equal(normalised.SamplesPerEpoch, second.Count);
        Assert.Subset(all, first);
        Assert.NotEqual(all.Except(first).ToHashSet(), all.Except(second).ToHashSet());
    }

    /// <summary>The sizes of one epoch's steps, taken on a copy of the run with zero gradients.</summary>
    private static List<int> Steps(TrainingRun run)
    {
        var sizes = new List<int>();
        var copy = new TrainingRun(run.Architecture, run.Data, run.Options);
        var zero = new float[copy.Architecture.ParameterCount];
        while (!copy.EpochComplete)
        {
            var n = copy.NextBatch().Length;
            sizes.Add(n);
            copy.ApplyGradient(zero, 0, n);
        }
        return sizes;
    }

    /// <summary>The samples of the epoch under way, each once, stepped through with zero gradients; then the epoch is finished.</summary>
    private static HashSet<Sample> EpochSamples(TrainingRun run, IComputeBackend backend)
    {
        var seen = new HashSet<Sample>();
        var zero = new float[run.Architecture.ParameterCount];
        while (!run.EpochComplete)
        {
            var batch = run.NextBatch();
            foreach (var sample in batch) Assert.True(seen.Add(sample), $"{sample} twice in one epoch");
            run.ApplyGradient(zero, 0, batch.Length);
        }
        run.FinishEpoch(backend, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        return seen;
    }

    private static TrainedModel SmallModel()
    {
        var arch = TestData.Small();
        var record = new TrainingRecord { Epochs = 3, Seed = 1, ValidationAccuracy = 0.97, ProgramVersion = "test" };
        record.Micrographs.Add("mic_0000");
        return new TrainedModel(arch, TestData.Parameters(arch, 3),
            new Preprocessing { Binning = 2, BinningMethod = "block-mean", Normalization = "per-micrograph", BoxSizeOriginal = 44, PixelSizeAngstrom = 1.77 },
            0.81f, 0.5f, 1.5f, record);
    }

    [Fact]
    public void Model_file_round_trips_everything()
    {
        var model = SmallModel();
        var back = TrainedModel.FromBytes(model.ToBytes(), "m.deepem");
        Assert.Equal(model.Parameters, back.Parameters);
        Assert.Equal(model.Architecture.Describe(), back.Architecture.Describe());
        Assert.Equal(model.Preprocessing, back.Preprocessing);
        Assert.Equal((0.81f, 0.5f, 1.5f), (back.Threshold, back.StdMin, back.StdMax));
        Assert.Equal(model.Training, back.Training);
        Assert.Equal(model.ParametersHash, back.ParametersHash);
        Assert.Equal(model.ToBytes(), back.ToBytes());
    }

    [Fact]
    public void Damaged_or_incompatible_model_files_are_refused_with_the_reason()
    {
        var bytes = SmallModel().ToBytes();
        string Problem(byte[] b) => Assert.Throws<InvalidModelException>(() => TrainedModel.FromBytes(b, "bad.deepem")).Problem;

        Assert.Contains("empty file", Problem([]));
        Assert.Contains("not a DeepEM model", Problem(System.Text.Encoding.ASCII.GetBytes("just some text, not a model at all")));
        Assert.Contains("not a DeepEM model", Problem(bytes[..(bytes.Length / 2)]));

        // One parameter flipped: the hash no longer matches.
        var message = Model.Parser.ParseFrom(bytes);
        message.Parameters[7] += 0.5f;
        Assert.Contains("do not match their SHA-256", Problem(Google.Protobuf.MessageExtensions.ToByteArray(message)));

        var newer = Model.Parser.ParseFrom(bytes);
        newer.FormatVersion = 99;
        Assert.Contains("newer than this program", Problem(Google.Protobuf.MessageExtensions.ToByteArray(newer)));

        var wrongShape = Model.Parser.ParseFrom(bytes);
        wrongShape.Architecture.BoxSize = 30; // the parameters no longer fit the dense layer
        Assert.Contains("parameters, its architecture needs", Problem(Google.Protobuf.MessageExtensions.ToByteArray(wrongShape)));

        var impossible = Model.Parser.ParseFrom(bytes);
        impossible.Architecture.BoxSize = 4;
        Assert.Contains("impossible architecture", Problem(Google.Protobuf.MessageExtensions.ToByteArray(impossible)));
    }
}
