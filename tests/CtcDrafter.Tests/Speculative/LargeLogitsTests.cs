using CtcDrafter.Sampling;
using CtcDrafter.Speculative;

namespace CtcDrafter.Tests.Speculative;

/// <summary>Softmaxes stay finite for logits far above exp's float range (sharp drafts, low temperatures).</summary>
public class LargeLogitsTests
{
    [Fact]
    public void DraftDistributionsOfLargeLogitsAreFinite()
    {
        float[] logits = [150f, 149f, 20f, -3f];
        var d = DepthDistribution.TopK(logits, 3);
        Assert.Equal([0, 1, 2], d.Tokens);
        Assert.Equal(1 / (1 + Math.Exp(-1)), d.Probs[0], 1e-6);
        Assert.All(d.Probs, p => Assert.True(float.IsFinite(p)));
    }

    [Fact]
    public void LowTemperatureSamplingOfLargeLogitsIsFinite()
    {
        var sampler = new Sampler(new SamplingOptions(Temperature: 0.1f, Seed: 1));
        var probs = new float[3];
        sampler.Distribution([12f, 11.9f, 0f], probs);
        Assert.Equal(1 / (1 + Math.Exp(-1)), probs[0], 1e-4); // 11.9 / 0.1 is not exact in float
        Assert.All(probs, p => Assert.True(float.IsFinite(p)));
    }
}
