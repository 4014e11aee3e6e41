using CtcDrafter.Kernels;

namespace CtcDrafter.Tests.Kernels;

public class ActivationsTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(9)]
    [InlineData(5632)]
    public void SwiGluMatchesReference(int n)
    {
        var rng = new Random(n);
        float[] gate = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 20 - 10)).ToArray();
        float[] up = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        float[] fast = (float[])gate.Clone(), reference = (float[])gate.Clone();
        Activations.SwiGlu(fast, up);
        Activations.SwiGluReference(reference, up);
        for (int i = 0; i < n; i++) Assert.Equal(reference[i], fast[i], 1e-5 * Math.Max(1, Math.Abs(reference[i])));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(10)]
    [InlineData(4000)]
    public void SoftmaxMatchesReference(int n)
    {
        var rng = new Random(n);
        float[] x = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 60 - 30) + 500).ToArray(); // large values need the max shift
        if (n > 1) x[n / 2] = float.NegativeInfinity; // a masked entry
        float[] fast = (float[])x.Clone(), reference = (float[])x.Clone();
        Activations.Softmax(fast);
        Activations.SoftmaxReference(reference);
        for (int i = 0; i < n; i++) Assert.Equal(reference[i], fast[i], 1e-5 * Math.Max(1e-3, reference[i]));
        Assert.Equal(1.0, fast.Sum(v => (double)v), 1e-5);
        if (n > 1) Assert.Equal(0f, fast[n / 2]);
    }
}
