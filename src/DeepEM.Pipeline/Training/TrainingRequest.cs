using DeepEM.Numerics.Backends;
using DeepEM.Numerics.Training;

namespace DeepEM.Pipeline.Training;

/// <summary>Everything <c>deepem train</c> was asked to do.</summary>
public sealed record TrainingRequest
{
    public required IReadOnlyList<string> Micrographs { get; init; }

    /// <summary>Folder (or file) of particle coordinates: the positives.</summary>
    public required string Coordinates { get; init; }

    /// <summary>Folder (or file) of non-particle coordinates, added to the random negatives.</summary>
    public string? Negatives { get; init; }

    /// <summary>Box size in pixels of the micrographs as given.</summary>
    public int? BoxSize { get; init; }

    /// <summary>Binning factor; null chooses one that brings the box near the preset's native size.</summary>
    public int? Binning { get; init; }

    /// <summary>The network's preset; null: deepem-48, or with <see cref="InitModel"/> that model's own network (another
    /// one given with it is refused).</summary>
    public string? Preset { get; init; }

    /// <summary>A model to continue from (the paper's iterative refinement); fixes preset, box and binning.</summary>
    public string? InitModel { get; init; }

    public DeviceChoice Device { get; init; } = DeviceChoice.Auto;

    /// <summary>Optimizer settings; their <see cref="TrainingOptions.Epochs"/> is replaced by <see cref="Epochs"/>.</summary>
    public TrainingOptions Options { get; init; } = new();

    /// <summary>Passes over the training boxes; null takes <see cref="TrainingWorkflow.DefaultEpochs"/> for the boxes cut.</summary>
    public int? Epochs { get; init; }

    /// <summary>The learning rate asked for; null takes <see cref="TrainingWorkflow.DefaultLearningRate"/> for the network and loss.</summary>
    public double? LearningRate { get; init; }

    public double NegativeRatio { get; init; } = 2.0;

    /// <summary>Least distance of random negatives from any pick, as a fraction of the (binned) box.</summary>
    public double NegativeDistanceFraction { get; init; } = 0.3;

    /// <summary>
    /// When the calibration finds the labels sparse, train a second time with random negatives also kept clear of
    /// the first model's picks (<see cref="TrainingWorkflow.Run"/>).
    /// </summary>
    public bool SparseLabelRound { get; init; } = true;
}
