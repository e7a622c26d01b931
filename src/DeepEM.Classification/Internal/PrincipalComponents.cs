using DeepEM.Classification.Steps;
using MathNet.Numerics.LinearAlgebra;

namespace DeepEM.Classification.Internal;

/// <summary>The principal components of the features, from their summed moments (MathNet's symmetric eigendecomposition).</summary>
internal static class PrincipalComponents
{
    public static Projection From(long count, double[] sum, double[] outer, int components)
    {
        var f = sum.Length;
        if (count < 2) throw new InvalidOperationException($"{count} particle(s): too few to classify");
        var mean = sum.Select(s => s / count).ToArray();
        var covariance = Matrix<double>.Build.Dense(f, f, (i, j) => outer[i * f + j] / count - mean[i] * mean[j]);
        // A covariance that is not finite would send the eigensolver round for ever.
        if (covariance.Enumerate().Any(v => !double.IsFinite(v))) throw new InvalidOperationException("the features' covariance is not finite");
        var evd = covariance.Evd(Symmetricity.Symmetric);
        var order = Enumerable.Range(0, f).OrderByDescending(i => evd.EigenValues[i].Real).ThenBy(i => i).ToArray();
        var d = Math.Max(1, Math.Min(components, Math.Min(f, (int)Math.Min(int.MaxValue, count - 1))));
        var basis = new float[d * f];
        for (var c = 0; c < d; c++)
        {
            var column = evd.EigenVectors.Column(order[c]);
            // An eigenvector's sign is arbitrary: fix it (largest component positive) so every run projects alike.
            var largest = 0;
            for (var i = 1; i < f; i++)
            {
                if (Math.Abs(column[i]) > Math.Abs(column[largest])) largest = i;
            }
            var sign = column[largest] < 0 ? -1 : 1;
            for (var i = 0; i < f; i++) basis[c * f + i] = (float)(sign * column[i]);
        }
        return new Projection(mean.Select(m => (float)m).ToArray(), basis, d);
    }
}
