using CtcDrafter.Kernels;

namespace CtcDrafter.Tests.Kernels;

public class AttentionTests
{
    static float[] Random(Random rng, int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();

    [Theory]
    [InlineData(64, 1)]
    [InlineData(64, 7)]
    [InlineData(80, 130)]
    [InlineData(100, 9)] // a tail of 4 after the 8-wide lanes
    [InlineData(128, 33)]
    [InlineData(5, 6)]   // the tail alone
    public void ScoresMatchTheReference(int d, int n)
    {
        var rng = new Random(d * 1000 + n);
        float[] q = Random(rng, d), keys = Random(rng, n * d);
        float[] fast = new float[n], reference = new float[n];
        Attention.Scores(q, keys, 0.125f, fast);
        Attention.ScoresReference(q, keys, 0.125f, reference);
        for (int s = 0; s < n; s++) Assert.Equal(reference[s], fast[s], 1e-5 * Math.Max(1, Math.Abs(reference[s])));
    }

    [Theory]
    [InlineData(64, 11)]
    [InlineData(100, 9)]
    public void AKeysScoreIsTheSameAloneOrInARun(int d, int n)
    {
        var rng = new Random(d + n);
        float[] q = Random(rng, d), keys = Random(rng, n * d);
        float[] run = new float[n], alone = new float[1];
        Attention.Scores(q, keys, 0.3f, run);
        for (int s = 0; s < n; s++)
        {
            Attention.Scores(q, keys.AsSpan(s * d, d), 0.3f, alone);
            Assert.Equal(BitConverter.SingleToInt32Bits(run[s]), BitConverter.SingleToInt32Bits(alone[0]));
        }
    }

    [Theory]
    [InlineData(64, 1)]
    [InlineData(64, 130)]
    [InlineData(100, 9)]
    [InlineData(13, 5)]
    public void AccumulatedValuesMatchTheReference(int d, int n)
    {
        var rng = new Random(d * 7 + n);
        float[] p = Random(rng, n), values = Random(rng, n * d), start = Random(rng, d);
        float[] fast = (float[])start.Clone(), reference = (float[])start.Clone();
        Attention.AccumulateValues(p, values, fast);
        Attention.AccumulateValuesReference(p, values, reference);
        for (int i = 0; i < d; i++) Assert.Equal(reference[i], fast[i], 1e-5 * Math.Max(1, Math.Abs(reference[i])));
    }

    [Theory]
    [InlineData(64, 30)]
    [InlineData(100, 9)]
    [InlineData(128, 17)]
    [InlineData(13, 5)]
    public void EveryValueElementIsItsFusedChainInSlotOrder(int d, int n)
    {
        var rng = new Random(d * 3 + n);
        float[] p = Random(rng, n), values = Random(rng, n * d), start = Random(rng, d);
        float[] fast = (float[])start.Clone();
        Attention.AccumulateValues(p, values, fast);
        for (int i = 0; i < d; i++)
        {
            float chain = start[i];
            for (int s = 0; s < n; s++) chain = MathF.FusedMultiplyAdd(p[s], values[s * d + i], chain);
            Assert.Equal(BitConverter.SingleToInt32Bits(chain), BitConverter.SingleToInt32Bits(fast[i]));
        }
    }

    [Theory]
    [InlineData(64, 20, 17)]
    [InlineData(100, 9, 1)]
    [InlineData(128, 5, 0)]
    public void ValuesInOneRunEqualValuesInTwo(int d, int n, int split)
    {
        var rng = new Random(d + n + split);
        float[] p = Random(rng, n), values = Random(rng, n * d);
        float[] one = new float[d], two = new float[d];
        Attention.AccumulateValues(p, values, one);
        Attention.AccumulateValues(p.AsSpan(0, split), values.AsSpan(0, split * d), two);
        for (int s = split; s < n; s++) Attention.AccumulateValues(p.AsSpan(s, 1), values.AsSpan(s * d, d), two);
        Assert.Equal(one.Select(BitConverter.SingleToInt32Bits), two.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void MismatchedShapesAreRefused()
    {
        Assert.Throws<ArgumentException>(() => Attention.Scores(new float[8], new float[15], 1, new float[2]));
        Assert.Throws<ArgumentException>(() => Attention.AccumulateValues(new float[2], new float[15], new float[8]));
    }
}
