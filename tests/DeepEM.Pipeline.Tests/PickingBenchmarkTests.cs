using DeepEM.Numerics.Network;
using DeepEM.Pipeline.Benchmarks;

namespace DeepEM.Pipeline.Tests;

public class PickingBenchmarkTests
{
    [Fact]
    public void The_floor_counts_every_layer_and_the_products_the_Winograd_layers_leave()
    {
        // deepem-48 at 45 px on a 1024² binned micrograph: C1 6@7×7 on 1018² positions, C3 12@5×5 (6 maps in) dilated by 2 on
        // 1009², C5 12@3×3 (12 in) dilated by 4 on 999², the output unit's 48 inputs on 980²; four rotations, two flops a multiply-add.
        var arch = Presets.Create(Presets.Default, 45);
        double c1 = 1018.0 * 1018 * 6 * 49, c3 = 1009.0 * 1009 * 12 * 6, c5 = 999.0 * 999 * 12 * 12, output = 980.0 * 980 * 48;
        var direct = 8 * (c1 + c3 * 25 + c5 * 9 + output);
        // F(4, 5): 8 transformed rows × 5 taps per 4 rows = 10 a pixel; F(6, 3): 8 × 3 per 6 rows = 4.
        var products = 8 * (c1 + c3 * 10 + c5 * 4 + output);
        Assert.Equal(direct, PickingBenchmark.DenseFlops(arch, 1024), 1e-6 * direct);
        Assert.Equal(products, PickingBenchmark.DenseFlops(arch, 1024, winograd: true), 1e-6 * products);
        Assert.InRange(direct / 1e9, 27.7, 27.9); // the "28 GFLOP a micrograph" of docs/benchmarks.md
    }
}
