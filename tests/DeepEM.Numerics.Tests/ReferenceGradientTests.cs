using DeepEM.Imaging.Randomness;
using DeepEM.Numerics.Network;

namespace DeepEM.Numerics.Tests;

/// <summary>The float64 reference's backward pass against central finite differences, layer by layer and whole.</summary>
public class ReferenceGradientTests
{
    private const double H = 1e-6;

    private static void AssertClose(double analytic, double numeric, string what)
    {
        Assert.True(Math.Abs(analytic - numeric) <= 1e-7 + 1e-5 * Math.Abs(numeric), $"{what}: analytic {analytic:E6} vs finite difference {numeric:E6}");
    }

    private static double[] Gaussian(int n, DeterministicRandom rng, double scale = 1) => Enumerable.Range(0, n).Select(_ => scale * rng.NextGaussian()).ToArray();

    [Fact]
    public void Convolution_layer_gradients_match_finite_differences()
    {
        var rng = new DeterministicRandom(1);
        const int inC = 2, outC = 3, h = 9, w = 8, k = 4;
        var input = Enumerable.Range(0, inC).Select(_ => Gaussian(h * w, rng)).ToArray();
        var weights = Gaussian(outC * inC * k * k, rng, 0.3);
        var bias = Gaussian(outC, rng);
        var r = Enumerable.Range(0, outC).Select(_ => Gaussian((h - k + 1) * (w - k + 1), rng)).ToArray();
        // Objective L = Σ r·conv(input): its gradient at the output is r.
        double L(double[][] inp, double[] wt, double[] b) =>
            ReferenceNetwork.ConvForward(inp, h, w, wt, b, outC, k).Select((o, c) => o.Select((v, i) => v * r[c][i]).Sum()).Sum();
        var (dIn, dW, dB) = ReferenceNetwork.ConvBackward(input, h, w, weights, r, k);
        for (var i = 0; i < weights.Length; i += 5)
        {
            var orig = weights[i];
            weights[i] = orig + H; var up = L(input, weights, bias);
            weights[i] = orig - H; var down = L(input, weights, bias);
            weights[i] = orig;
            AssertClose(dW[i], (up - down) / (2 * H), $"dW[{i}]");
        }
        for (var o = 0; o < outC; o++)
        {
            var orig = bias[o];
            bias[o] = orig + H; var up = L(input, weights, bias);
            bias[o] = orig - H; var down = L(input, weights, bias);
            bias[o] = orig;
            AssertClose(dB[o], (up - down) / (2 * H), $"dB[{o}]");
        }
        for (var c = 0; c < inC; c++)
            for (var i = 0; i < h * w; i += 3)
            {
                var orig = input[c][i];
                input[c][i] = orig + H; var up = L(input, weights, bias);
                input[c][i] = orig - H; var down = L(input, weights, bias);
                input[c][i] = orig;
                AssertClose(dIn[c][i], (up - down) / (2 * H), $"dIn[{c}][{i}]");
            }
    }

    [Fact]
    public void Pooling_and_sigmoid_gradients_match_finite_differences()
    {
        var rng = new DeterministicRandom(2);
        const int h = 7, w = 9, p = 2; // a dropped remainder row and column
        var input = new[] { Gaussian(h * w, rng) };
        var r = new[] { Gaussian((h / p) * (w / p), rng) };
        double L(double[][] inp) => ReferenceNetwork.Pool(inp, h, w, p)[0].Select((v, i) => v * r[0][i]).Sum();
        var dIn = ReferenceNetwork.PoolBackward(r, h, w, p)[0];
        for (var i = 0; i < h * w; i++)
        {
            var orig = input[0][i];
            input[0][i] = orig + H; var up = L(input);
            input[0][i] = orig - H; var down = L(input);
            input[0][i] = orig;
            AssertClose(dIn[i], (up - down) / (2 * H), $"pool dIn[{i}]");
        }
        foreach (var x in new[] { -3.0, -0.5, 0, 0.7, 4 })
        {
            var s = ReferenceNetwork.Sigmoid(x);
            AssertClose(s * (1 - s), (ReferenceNetwork.Sigmoid(x + H) - ReferenceNetwork.Sigmoid(x - H)) / (2 * H), $"sigmoid'({x})");
        }
    }

    [Theory]
    [InlineData(LossKind.SquaredError, 1.0, Activation.Sigmoid)]
    [InlineData(LossKind.SquaredError, 0.0, Activation.Sigmoid)]
    [InlineData(LossKind.CrossEntropy, 1.0, Activation.Sigmoid)]
    [InlineData(LossKind.SquaredError, 1.0, Activation.Relu)]
    public void Whole_network_gradient_matches_finite_differences_for_every_parameter(LossKind loss, double target, Activation activation)
    {
        var arch = TestData.Small(activation);
        var parameters = TestData.ToDouble(TestData.Parameters(arch, 3));
        var box = TestData.ToDouble(TestData.Boxes(1, arch.BoxSize, 4));
        var grad = ReferenceNetwork.Gradient(arch, parameters, box, target, loss);
        double L() => ReferenceNetwork.Loss(loss, ReferenceNetwork.Forward(arch, parameters, box).Y, target);
        Assert.True(grad.Count(g => Math.Abs(g) > 1e-9) > parameters.Length / 2, "most parameters must have a gradient");
        for (var i = 0; i < parameters.Length; i++)
        {
            var orig = parameters[i];
            parameters[i] = orig + H; var up = L();
            parameters[i] = orig - H; var down = L();
            parameters[i] = orig;
            AssertClose(grad[i], (up - down) / (2 * H), $"parameter {i}");
        }
    }
}
