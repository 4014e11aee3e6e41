using CtcDrafter.Model;
using CtcDrafter.Kernels;

namespace CtcDrafter.Tests.Kernels;

public class RopeTests
{
    [Theory]
    [InlineData(64, 10000f)]
    [InlineData(6, 10000f)]
    [InlineData(128, 500000f)]
    public void MatchesDoublePrecisionRotation(int headDim, float theta)
    {
        const int heads = 3, maxPositions = 512;
        var table = new RopeTable(headDim, maxPositions, RopeScaling.BaseInverseFrequencies(headDim, theta));
        var rng = new Random(headDim);
        foreach (int pos in new[] { 0, 1, 2, 17, 255, 511 })
        {
            float[] x = Enumerable.Range(0, heads * headDim).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            float[] fast = (float[])x.Clone(), reference = (float[])x.Clone();
            table.Apply(fast, pos);
            RopeTable.ApplyReference(reference, headDim, pos, theta);
            for (int i = 0; i < x.Length; i++) Assert.Equal(reference[i], fast[i], 1e-4);
        }
    }

    [Fact]
    public void RotatesHalvesAsHuggingFaceLlama()
    {
        // d = 4, position 1: pairs (x0, x2) by angle 1, (x1, x3) by angle 1 / sqrt(theta) = 0.01.
        var table = new RopeTable(4, 2, RopeScaling.BaseInverseFrequencies(4, 10000f));
        float[] x = [1, 2, 3, 4];
        table.Apply(x, 1);
        Assert.Equal(1 * Math.Cos(1) - 3 * Math.Sin(1), x[0], 1e-6);
        Assert.Equal(2 * Math.Cos(0.01) - 4 * Math.Sin(0.01), x[1], 1e-6);
        Assert.Equal(3 * Math.Cos(1) + 1 * Math.Sin(1), x[2], 1e-6);
        Assert.Equal(4 * Math.Cos(0.01) + 2 * Math.Sin(0.01), x[3], 1e-6);
        Assert.Throws<ArgumentOutOfRangeException>(() => table.Apply(x, 2));
    }
}
