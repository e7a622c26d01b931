using DeepEM.Pipeline.Training;

namespace DeepEM.Pipeline.Tests;

/// <summary>How long a training runs without --epochs: a number of rotated boxes seen, not a number of epochs.</summary>
public class TrainingDefaultsTests
{
    [Theory]
    [InlineData(19095, 4, 20)]    // the recipe: 6,365 particles and twice as many non-particles, 15% held out
    [InlineData(1500, 4, 246)]    // 50 labels on each of ten micrographs
    [InlineData(600, 4, 400)]     // 20 each: as many as allowed
    [InlineData(1500, 8, 123)]    // eight symmetries: half the epochs for the same boxes seen
    [InlineData(100_000, 4, 20)]  // a large set: never fewer than 20
    public void Default_epochs_show_every_training_about_the_same_number_of_boxes(int boxes, int symmetries, int epochs)
    {
        Assert.Equal(epochs, TrainingWorkflow.DefaultEpochs(boxes, 0.15, symmetries));
        var seen = (double)epochs * symmetries * boxes * 0.85;
        if (epochs is > TrainingWorkflow.MinimumEpochs and < TrainingWorkflow.MaximumEpochs)
        {
            Assert.InRange(seen, TrainingWorkflow.DefaultSamples, TrainingWorkflow.DefaultSamples + symmetries * boxes * 0.85);
        }
    }
}
