using CtcDrafter.Kernels;

namespace CtcDrafter.Tests.Kernels;

public class NormTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(64)]
    [InlineData(2049)]
    public void RmsNormMatchesReference(int dim)
    {
        var rng = new Random(dim);
        float[] x = Enumerable.Range(0, dim).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
        float[] w = Enumerable.Range(0, dim).Select(_ => (float)(rng.NextDouble() * 2)).ToArray();
        var fast = new float[dim];
        var reference = new float[dim];
        Norm.RmsNorm(x, w, fast, 1e-5f);
        Norm.RmsNormReference(x, w, reference, 1e-5f);
        for (int i = 0; i < dim; i++) Assert.Equal(reference[i], fast[i], 1e-5 * Math.Max(1, Math.Abs(reference[i])));

        Norm.RmsNorm(x, w, x, 1e-5f); // in place
        Assert.Equal(fast, x);
    }
}
