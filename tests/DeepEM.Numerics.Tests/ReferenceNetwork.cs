using DeepEM.Numerics.Network;

namespace DeepEM.Numerics.Tests;

/// <summary>
/// The DeepEM network written as plainly as possible in float64: the reference that every backend is
/// compared with. Its own backward pass is checked against finite differences (ReferenceGradientTests).
/// Tensors are [channel][y][x] as double[c][h*w].
/// </summary>
public static class ReferenceNetwork
{
    public static double[][] ConvForward(double[][] input, int h, int w, double[] weights, double[] bias, int outC, int k)
    {
        var inC = input.Length;
        int oh = h - k + 1, ow = w - k + 1;
        var output = new double[outC][];
        for (var o = 0; o < outC; o++)
        {
            output[o] = new double[oh * ow];
            for (var y = 0; y < oh; y++)
                for (var x = 0; x < ow; x++)
                {
                    var s = bias[o];
                    for (var i = 0; i < inC; i++)
                        for (var ky = 0; ky < k; ky++)
                            for (var kx = 0; kx < k; kx++)
                                s += input[i][(y + ky) * w + x + kx] * weights[((o * inC + i) * k + ky) * k + kx];
                    output[o][y * ow + x] = s;
                }
        }
        return output;
    }

    public static (double[][] dIn, double[] dW, double[] dB) ConvBackward(double[][] input, int h, int w, double[] weights, double[][] dOut, int k)
    {
        var inC = input.Length;
        var outC = dOut.Length;
        int oh = h - k + 1, ow = w - k + 1;
        var dIn = input.Select(_ => new double[h * w]).ToArray();
        var dW = new double[weights.Length];
        var dB = new double[outC];
        for (var o = 0; o < outC; o++)
            for (var y = 0; y < oh; y++)
                for (var x = 0; x < ow; x++)
                {
                    var d = dOut[o][y * ow + x];
                    dB[o] += d;
                    for (var i = 0; i < inC; i++)
                        for (var ky = 0; ky < k; ky++)
                            for (var kx = 0; kx < k; kx++)
                            {
                                var wi = ((o * inC + i) * k + ky) * k + kx;
                                dW[wi] += d * input[i][(y + ky) * w + x + kx];
                                dIn[i][(y + ky) * w + x + kx] += d * weights[wi];
                            }
                }
        return (dIn, dW, dB);
    }

    public static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    public static double Activate(Activation kind, double x) => kind == Activation.Relu ? Math.Max(0, x) : Sigmoid(x);

    public static double Derivative(Activation kind, double y) => kind == Activation.Relu ? (y > 0 ? 1 : 0) : y * (1 - y);

    public static double[][] Pool(double[][] input, int h, int w, int p)
    {
        int oh = h / p, ow = w / p;
        return input.Select(plane =>
        {
            var o = new double[oh * ow];
            for (var y = 0; y < oh; y++)
                for (var x = 0; x < ow; x++)
                {
                    double s = 0;
                    for (var dy = 0; dy < p; dy++)
                        for (var dx = 0; dx < p; dx++)
                            s += plane[(y * p + dy) * w + x * p + dx];
                    o[y * ow + x] = s / (p * p);
                }
            return o;
        }).ToArray();
    }

    public static double[][] PoolBackward(double[][] dOut, int h, int w, int p)
    {
        int oh = h / p, ow = w / p;
        return dOut.Select(plane =>
        {
            var d = new double[h * w];
            for (var y = 0; y < oh * p; y++)
                for (var x = 0; x < ow * p; x++)
                    d[y * w + x] = plane[(y / p) * ow + x / p] / (p * p);
            return d;
        }).ToArray();
    }

    public sealed record Trace(List<double[][]> Inputs, List<double[][]> Activations, List<double[][]> Pooled, double Z, double Y);

    public static Trace Forward(NetworkArchitecture arch, double[] parameters, double[] box)
    {
        var layout = arch.Layout;
        var inputs = new List<double[][]>();
        var activations = new List<double[][]>();
        var pooled = new List<double[][]>();
        double[][] current = [box];
        for (var s = 0; s < arch.Stages.Count; s++)
        {
            var st = arch.Stages[s];
            inputs.Add(current);
            var w = parameters.AsSpan(layout.WeightOffset(s), st.WeightCount).ToArray();
            var b = parameters.AsSpan(layout.BiasOffset(s), st.OutChannels).ToArray();
            var conv = ConvForward(current, st.InHeight, st.InWidth, w, b, st.OutChannels, st.Kernel);
            var act = conv.Select(plane => plane.Select(v => Activate(arch.Activation, v)).ToArray()).ToArray();
            activations.Add(act);
            current = Pool(act, st.ConvHeight, st.ConvWidth, st.Pool);
            pooled.Add(current);
        }
        var z = parameters[layout.DenseBiasOffset];
        var flat = current.SelectMany(p => p).ToArray();
        for (var i = 0; i < flat.Length; i++) z += flat[i] * parameters[layout.DenseWeightOffset + i];
        return new Trace(inputs, activations, pooled, z, Sigmoid(z));
    }

    public static double Loss(LossKind kind, double y, double t) => kind == LossKind.SquaredError
        ? 0.5 * (y - t) * (y - t)
        : -(t * Math.Log(y) + (1 - t) * Math.Log(1 - y));

    public static double[] Gradient(NetworkArchitecture arch, double[] parameters, double[] box, double target, LossKind kind)
    {
        var layout = arch.Layout;
        var trace = Forward(arch, parameters, box);
        var grad = new double[parameters.Length];
        var y = trace.Y;
        var dz = kind == LossKind.SquaredError ? (y - target) * y * (1 - y) : y - target;
        grad[layout.DenseBiasOffset] = dz;
        var flat = trace.Pooled[^1].SelectMany(p => p).ToArray();
        var dFlat = new double[flat.Length];
        for (var i = 0; i < flat.Length; i++)
        {
            grad[layout.DenseWeightOffset + i] = dz * flat[i];
            dFlat[i] = dz * parameters[layout.DenseWeightOffset + i];
        }
        var last = arch.Stages[^1];
        var plane = last.OutHeight * last.OutWidth;
        var dPooled = Enumerable.Range(0, last.OutChannels).Select(c => dFlat.AsSpan(c * plane, plane).ToArray()).ToArray();
        for (var s = arch.Stages.Count - 1; s >= 0; s--)
        {
            var st = arch.Stages[s];
            var dAct = PoolBackward(dPooled, st.ConvHeight, st.ConvWidth, st.Pool);
            var act = trace.Activations[s];
            var dConv = dAct.Select((p, c) => p.Select((d, i) => d * Derivative(arch.Activation, act[c][i])).ToArray()).ToArray();
            var w = parameters.AsSpan(layout.WeightOffset(s), st.WeightCount).ToArray();
            var (dIn, dW, dB) = ConvBackward(trace.Inputs[s], st.InHeight, st.InWidth, w, dConv, st.Kernel);
            dW.CopyTo(grad, layout.WeightOffset(s));
            dB.CopyTo(grad, layout.BiasOffset(s));
            dPooled = dIn;
        }
        return grad;
    }
}
