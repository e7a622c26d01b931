using DeepEM.Imaging.Randomness;
using DeepEM.Numerics.Training;

namespace DeepEM.Numerics.Tests;

public class BoxRotationTests
{
    // Whole 8 × 8 blocks, images with rows and columns past the last whole block, narrower than a block, and square.
    [Theory]
    [InlineData(8, 8)]
    [InlineData(37, 29)]
    [InlineData(64, 48)]
    [InlineData(9, 17)]
    [InlineData(5, 3)]
    [InlineData(130, 130)]
    public void An_image_turned_puts_every_pixel_where_the_convention_says(int w, int h)
    {
        var rng = new DeterministicRandom((ulong)(w * 1000 + h));
        var image = Enumerable.Range(0, w * h).Select(_ => (float)rng.NextGaussian()).ToArray();
        for (var turns = -1; turns <= 4; turns++)
        {
            // Pixel (x, y) of a w × h image goes to (y, w − 1 − x) of the h × w result, turn after turn.
            var expected = (float[])image.Clone();
            int ew = w, eh = h;
            for (var t = 0; t < ((turns % 4) + 4) % 4; t++)
            {
                var next = new float[ew * eh];
                for (var y = 0; y < eh; y++)
                    for (var x = 0; x < ew; x++)
                        next[(ew - 1 - x) * eh + y] = expected[y * ew + x];
                expected = next;
                (ew, eh) = (eh, ew);
            }
            var got = new float[w * h + 8];
            got.AsSpan(w * h).Fill(float.NaN);
            BoxRotation.RotateImage(image, got, w, h, turns);
            Assert.Equal(expected, got[..(w * h)]);
            Assert.All(got[(w * h)..], v => Assert.True(float.IsNaN(v), "written past the image"));
        }
    }
}
