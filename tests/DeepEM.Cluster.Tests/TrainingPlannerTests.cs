using DeepEM.Cluster.Protocol;
using DeepEM.Cluster.Training;
using DeepEM.Imaging.Randomness;
using DeepEM.Numerics.Backends;
using DeepEM.Numerics.Backends.Managed;
using DeepEM.Numerics.Network;
using DeepEM.Numerics.Training;

namespace DeepEM.Cluster.Tests;

/// <summary>
/// The training coordinator's planner without an ActorSystem: workers are names, time is a clock the test moves, and
/// the test answers the gradient tasks itself, as a gradient worker would.
/// </summary>
public sealed class TrainingPlannerTests
{
    private sealed class ManualTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private const int Box = 48;

    /// <summary>Noise boxes, the positives with a bright disc in the middle: not all zero, and learnable.</summary>
    private static readonly BoxSet Boxes = MakeBoxes(60);

    private static BoxSet MakeBoxes(int count)
    {
        var rng = new DeterministicRandom(11);
        var set = new BoxSet(Box);
        var box = new float[Box * Box];
        for (var b = 0; b < count; b++)
        {
            var positive = b % 2 == 0;
            for (var y = 0; y < Box; y++)
            for (var x = 0; x < Box; x++)
            {
                var r2 = (x - Box / 2.0) * (x - Box / 2.0) + (y - Box / 2.0) * (y - Box / 2.0);
                box[y * Box + x] = (float)(rng.NextGaussian() * 0.5 + (positive && r2 < 100 ? 1.0 : 0.0));
            }
            set.Add(box, positive ? 1 : 0);
        }
        return set;
    }

    /// <summary>Batch 80: five chunks of 16, so two workers take three and two.</summary>
    private static TrainingSpec Spec(string id = "job", int epochs = 2, int batch = 80, BlobRef? init = null) =>
        new(id, Presets.Default, Box, new BlobRef(new string('b', 64), "/data/boxes.set", 1000), init, epochs, batch, 0.3, 0.9, "squared-error", 0.15, 5, 0);

    private static TrainingRun Run(TrainingSpec spec, TrainingCheckpoint? resume = null) => TrainingPlanner<string>.CreateRun(spec, Boxes, null, resume);

    /// <summary>Message parts of 256 floats, so the weights go out in parts ahead of each task.</summary>
    private static readonly TrainingSettings Settings = new() { MessageBytes = 1024, CheckpointEvery = 2, StepTimeout = TimeSpan.FromSeconds(60) };

    private static (TrainingPlanner<string> Plan, ManualTime Time) Planner(params string[] workers)
    {
        var time = new ManualTime();
        var plan = new TrainingPlanner<string>(Settings, time);
        foreach (var w in workers) plan.Register(w, $"node-{w}");
        return (plan, time);
    }

    private static TrainingPlanner<string>.ActiveTraining Started(TrainingPlanner<string> plan, TrainingSpec spec)
    {
        plan.Apply(new TrainingSubmitted(spec));
        Assert.Equal(spec, plan.NextJob());
        return plan.Start(spec, Run(spec));
    }

    /// <summary>What a gradient worker computes for the tasks sent to <paramref name="worker"/>: the weights put back together from their parts, each chunk's gradient on the managed backend, answered in parts of <paramref name="part"/> floats.</summary>
    private static List<GradientPart> Answer(IEnumerable<Send<string>> sends, string worker, int part = 1000)
    {
        var arch = Presets.Create(Presets.Default, Box);
        var backend = new ManagedBackend(arch, threads: 1);
        var n = arch.ParameterCount;
        var weights = new float[n];
        var answers = new List<GradientPart>();
        foreach (var send in sends.Where(s => s.To == worker))
        {
            if (send.Message is WeightsPart w)
            {
                w.Values.CopyTo(weights, w.Offset);
                continue;
            }
            var task = (GradientTask)send.Message;
            task.Weights.CopyTo(weights, task.WeightsOffset);
            Assert.Equal(task.WeightsSha256, FloatBytes.Sha256Hex(weights));
            var samples = task.Boxes.Zip(task.Rotations, (b, r) => new Sample(b, r)).ToArray();
            var boxes = new float[samples.Length * Box * Box];
            var targets = new float[samples.Length];
            TrainingRun.Assemble(Boxes, samples, boxes, targets);
            var chunks = GradientChunks.Count(samples.Length);
            var gradients = new float[chunks * n];
            var losses = new double[chunks];
            backend.ChunkGradients(weights, boxes, targets, samples.Length, LossKind.SquaredError, gradients, losses);
            for (var offset = 0; offset < gradients.Length; offset += part)
            {
                var values = gradients.AsSpan(offset, Math.Min(part, gradients.Length - offset)).ToArray();
                answers.Add(new GradientPart(task.JobId, task.Step, task.FirstChunk, chunks, offset, gradients.Length, values, losses, $"node-{worker}", 0.1));
            }
        }
        return answers;
    }

    /// <summary>The reference: one process adding the whole batch's gradient on the managed backend (chunk order, from zero).</summary>
    private static void StepAlone(TrainingRun run)
    {
        var backend = new ManagedBackend(run.Architecture, threads: 1);
        var batch = run.NextBatch().ToArray();
        var boxes = new float[batch.Length * Box * Box];
        var targets = new float[batch.Length];
        TrainingRun.Assemble(Boxes, batch, boxes, targets);
        var gradient = new float[run.Architecture.ParameterCount];
        var loss = backend.Gradient(run.Parameters, boxes, targets, batch.Length, LossKind.SquaredError, gradient, new float[batch.Length]);
        run.ApplyGradient(gradient, loss, batch.Length);
    }

    [Fact]
    public void A_step_goes_out_in_contiguous_slices_one_per_worker_with_the_weights_in_parts()
    {
        var (plan, _) = Planner("a", "b");
        var active = Started(plan, Spec());
        Assert.Equal(TrainingNext.Step, plan.Advance());
        Assert.Equal([(0, 3), (3, 2)], active.Step!.Slices);
        var sends = plan.TakeSends();
        var n = active.Run.Architecture.ParameterCount;
        // Each worker: the weights' parts of 256 floats, then its task with the last part and its samples in batch order.
        foreach (var (worker, first, boxes) in new[] { ("a", 0, 48), ("b", 3, 32) })
        {
            var mine = sends.Where(s => s.To == worker).Select(s => s.Message).ToList();
            Assert.Equal((n - 1) / 256, mine.OfType<WeightsPart>().Count());
            var task = Assert.IsType<GradientTask>(mine[^1]);
            Assert.Equal((first, boxes, active.Run.Step), (task.FirstChunk, task.Boxes.Length, task.Step));
            var batch = active.Run.NextBatch().ToArray();
            Assert.Equal(batch.Skip(first * 16).Take(boxes).Select(s => s.Box), task.Boxes);
        }
    }

    [Fact]
    public void Chunks_are_added_in_chunk_order_whatever_order_and_parts_they_come_in_and_each_slice_is_used_once()
    {
        var spec = Spec();
        var (plan, _) = Planner("a", "b");
        var active = Started(plan, spec);
        var alone = Run(spec);
        for (var step = 0; step < 3; step++)
        {
            plan.Advance();
            var sends = plan.TakeSends();
            // a's slice in parts of 1,000 floats; then a copy of a's slice from a third worker (a late answer to a
            // resend), which must not count again; then b's parts in reverse order.
            foreach (var p in Answer(sends, "a")) Assert.False(plan.Take("a", p));
            foreach (var p in Answer(sends, "a")) Assert.False(plan.Take("c", p with { Values = [.. p.Values.Select(v => v * 2)] }));
            var fromB = Enumerable.Reverse(Answer(sends, "b")).ToList();
            for (var i = 0; i < fromB.Count; i++) Assert.Equal(i == fromB.Count - 1, plan.Take("b", fromB[i]));
            StepAlone(alone);
            Assert.Equal(alone.Parameters, active.Run.Parameters);
            Assert.Equal(step + 1, active.Run.Step);
        }
        Assert.Equal(3, active.Traffic().Steps);
        Assert.Equal(2, active.Traffic().Workers);
    }

    [Fact]
    public void The_slices_of_a_worker_that_is_gone_go_to_the_least_busy_other_and_a_step_without_workers_waits_for_one()
    {
        var (plan, _) = Planner("a", "b", "c");
        Started(plan, Spec());
        plan.Advance();
        plan.TakeSends();
        Assert.Equal("node-b", plan.Gone("b"));
        // a and c hold one slice each: b's goes to the first of them.
        Assert.Equal(["a"], plan.TakeSends().Where(s => s.Message is GradientTask).Select(s => s.To));
        Assert.Null(plan.Gone("b"));

        var (lonely, _) = Planner();
        Started(lonely, Spec());
        lonely.Advance();
        Assert.Empty(lonely.TakeSends());
        Assert.True(lonely.Register("z", "node-z"));
        Assert.Single(lonely.TakeSends(), s => s.To == "z" && s.Message is GradientTask);
    }

    [Fact]
    public void An_overdue_slice_goes_elsewhere_and_its_worker_gets_no_new_slices_until_it_announces_itself_again()
    {
        var (plan, time) = Planner("a", "b");
        var active = Started(plan, Spec());
        plan.Advance();
        var sends = plan.TakeSends();
        time.Now += TimeSpan.FromSeconds(30);
        plan.Tick();
        Assert.Empty(plan.TakeSends());
        foreach (var p in Answer(sends, "b")) plan.Take("b", p);
        time.Now += TimeSpan.FromSeconds(31);
        plan.Tick();
        Assert.Equal(["chunks 0..2 not back from node-a after 60 s: sent elsewhere"], plan.TakeWarnings());
        var resent = plan.TakeSends();
        Assert.Equal(["b"], resent.Where(s => s.Message is GradientTask).Select(s => s.To));
        foreach (var p in Answer(resent, "b")) plan.Take("b", p);
        Assert.Equal(1, active.Run.Step);

        // The next step goes to b alone; once a announces itself again, the step after is split again.
        plan.Advance();
        Assert.Equal([(0, 5)], active.Step!.Slices);
        foreach (var p in Answer(plan.TakeSends(), "b")) plan.Take("b", p);
        Assert.False(plan.Register("a", "node-a"));
        plan.Advance();
        // The epoch's last step: 44 boxes, three chunks.
        Assert.Equal([(0, 2), (2, 1)], active.Step!.Slices);
    }

    [Fact]
    public void A_slice_refused_again_and_again_by_every_worker_stops_the_training()
    {
        var (plan, _) = Planner("a", "b");
        var active = Started(plan, Spec());
        plan.Advance();
        plan.TakeSends();
        string? failure = null;
        var holder = "a";
        // Three refusals per worker: the sixth stops it; before that, each refusal sends the slice to the other worker.
        for (var i = 1; i <= 6; i++)
        {
            failure = plan.Refused(holder, new GradientRefused("job", active.Run.Step, 0, $"node-{holder}", "cannot read the training set"));
            if (i < 6)
            {
                Assert.Null(failure);
                holder = Assert.Single(plan.TakeSends(), s => s.Message is GradientTask).To;
                Assert.Equal(i % 2 == 1 ? "b" : "a", holder);
            }
        }
        Assert.Equal("step 0: node-b: cannot read the training set", failure);
        // A refusal of a slice the worker does not hold counts for nothing.
        Assert.Null(plan.Refused("a", new GradientRefused("job", active.Run.Step, 3, "node-a", "late")));
        plan.Fail("job");
        Assert.Null(plan.Active);
        Assert.Null(plan.NextJob());
        // Submitted again, it is tried again.
        Assert.NotNull(plan.Known(Spec(), out var retry));
        Assert.True(retry);
        Assert.Equal("job", plan.NextJob()!.JobId);
    }

    [Fact]
    public void Checkpoints_fall_every_n_steps_and_a_planner_rebuilt_from_the_journal_resumes_where_the_last_one_was()
    {
        var spec = Spec(epochs: 2);
        var (plan, _) = Planner("a");
        var active = Started(plan, spec);
        var journal = new List<object> { new TrainingSubmitted(spec) };
        var due = new List<long>();
        // 51 training boxes × 4 rotations in batches of 80: 3 steps an epoch, the epoch's end validated by the caller.
        while (active.Run.Step < 3)
        {
            Assert.Equal(TrainingNext.Step, plan.Advance());
            foreach (var p in Answer(plan.TakeSends(), "a")) plan.Take("a", p);
            if (plan.CheckpointDue)
            {
                due.Add(active.Run.Step);
                var file = plan.Checkpoint();
                var e = new TrainingCheckpointed("job", active.Run.Step, new BlobRef(new string('c', 64), $"/state/job-{active.Run.Step:D8}.ckpt", 10));
                Assert.Null(plan.Apply(e));
                journal.Add(e);
                Assert.Equal(active.Run.Parameters, file.Checkpoint.Parameters);
            }
        }
        Assert.Equal([2], due);
        Assert.Equal(TrainingNext.Validate, plan.Advance());
        Assert.True(active.Busy);

        var (again, _) = Planner("a");
        foreach (var e in journal)
        {
            if (e is TrainingSubmitted s) again.Apply(s);
            else again.Apply((TrainingCheckpointed)e);
        }
        var accepted = again.Known(spec, out var retry)!;
        Assert.Equal((true, 2L, false), (accepted.Resumed, accepted.Step, retry));
        Assert.Equal("/state/job-00000002.ckpt", again.LastCheckpoint("job")!.Checkpoint.Path);
        Assert.Equal(spec, again.NextJob());
        Assert.Null(again.NextJob()); // being prepared: not handed out twice
        // A later checkpoint replaces it: the older file is the one to delete.
        Assert.Equal("/state/job-00000002.ckpt", again.Apply(new TrainingCheckpointed("job", 3, new BlobRef(new string('d', 64), "/state/job-00000003.ckpt", 10)))!.Path);
    }

    [Fact]
    public void Trainings_run_in_submission_order_and_a_finished_one_is_replayed_to_a_new_follower()
    {
        var (plan, _) = Planner("a");
        plan.Apply(new TrainingSubmitted(Spec("first")));
        plan.Apply(new TrainingSubmitted(Spec("second")));
        var first = plan.NextJob()!;
        Assert.Equal("first", first.JobId);
        plan.Start(first, Run(first));
        Assert.Null(plan.NextJob());
        var report = new EpochReport(1, 1, 0.2, 0.2, 0.9, 100, TimeSpan.FromSeconds(1), TimeSpan.Zero, true);
        var finished = new TrainingFinished("first", new BlobRef(new string('e', 64), "/state/first.parameters", 4), 1, 0.2, 0.9,
            new ThresholdPoint(0.5, 0.9, 0.9, 0.9, 0.9), 51, 9, [report], new TrainingTraffic(3, 1, 0.5, 0.5, 100, 1), 0);
        Assert.Null(plan.Apply(finished));
        Assert.Null(plan.Active);
        Assert.Equal("second", plan.NextJob()!.JobId);
        var replay = plan.Replay("first", newFollower: false);
        Assert.Equal(2, replay.Count);
        Assert.Equal(report, Assert.IsType<TrainingProgress>(replay[0]).Epoch);
        Assert.Same(finished, replay[1]);
        Assert.Empty(plan.Replay("second", newFollower: true));
    }

    [Theory]
    [InlineData("../job", "preset", "training id")]
    [InlineData("job", "no-such-net", "unknown network preset 'no-such-net'")]
    public void A_spec_that_cannot_train_is_refused_in_one_line(string id, string preset, string expected)
    {
        var spec = Spec(id) with { Preset = preset == "preset" ? Presets.Default : preset };
        Assert.Contains(expected, TrainingPlanner<string>.Check(spec));
        Assert.Null(TrainingPlanner<string>.Check(Spec()));
        Assert.Equal("0 epochs of batch 80: both must be positive", TrainingPlanner<string>.Check(Spec(epochs: 0)));
        var n = Presets.Create(Presets.Default, Box).ParameterCount;
        Assert.Equal($"/p.bin: 10 initial parameters for a network of {n}", TrainingPlanner<string>.Check(Spec(init: new BlobRef(new string('f', 64), "/p.bin", 40))));
    }
}
