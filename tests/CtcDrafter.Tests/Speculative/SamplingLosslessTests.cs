using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Speculative;
using CtcDrafter.Tests.Model;

namespace CtcDrafter.Tests.Speculative;

/// <summary>On a real (random-weight) model, sampling with speculation has the token statistics of plain sampling.</summary>
public class SamplingLosslessTests
{
    /// <summary>Proposes uniformly random tokens, two per node, two deep.</summary>
    sealed class UniformDrafter(int vocab) : IDrafter
    {
        readonly Random _rng = new(99);
        public string Name => "uniform";
        public void Reset() { }
        public IDrafter Spawn() => new UniformDrafter(vocab);
        public void Observe(ReadOnlySpan<int> tokens, ReadOnlySpan<float> hidden) { }
        public DraftTree Propose(int root, int maxNodes)
        {
            var t = new DraftTree(root);
            for (int a = 0; a < 2 && t.Count < maxNodes; a++)
            {
                int c = t.Add(0, _rng.Next(vocab));
                for (int b = 0; b < 2 && t.Count < maxNodes; b++) t.Add(c, _rng.Next(vocab));
            }
            return t;
        }
    }

    /// <summary>
    /// Counts of the token at each of the first three output positions over many seeds; category V counts runs
    /// that ended (end-of-sequence) before that position.
    /// </summary>
    static long[][] Histograms(LlamaModel m, Func<IDrafter> drafter, int runs, ulong seedBase, SamplingOptions baseOptions)
    {
        int V = m.Config.VocabSize;
        var h = new long[3][];
        for (int k = 0; k < 3; k++) h[k] = new long[V + 1];
        var g = new Generator(m, drafter(), maxTreeNodes: 8);
        for (int r = 0; r < runs; r++)
        {
            var result = g.Generate(new GenerationRequest([1, 7, 3], 3, baseOptions with { Seed = seedBase + (ulong)r }));
            for (int k = 0; k < 3; k++) h[k][k < result.Tokens.Count ? result.Tokens[k] : V]++;
        }
        return h;
    }

    [Theory]
    [InlineData(1.0f, 0, 1.0f)]
    [InlineData(0.7f, 0, 1.0f)]
    [InlineData(0.8f, 8, 0.9f)]
    public void SpeculativeSamplingMatchesPlainSampling(float temperature, int topK, float topP)
    {
        using var dir = new TempDir();
        var config = RandomModel.Config(hidden: 32, ffn: 64, layers: 2, heads: 2, kvHeads: 1, vocab: 12, context: 64);
        using var m = TestModels.Load(TestModels.Write(dir, config, seed: 5));
        var options = new SamplingOptions(temperature, topK, topP);
        const int runs = 3000;
        long[][] plain = Histograms(m, () => new NoDrafter(), runs, 0, options);

        // The first token has a known distribution: the sampler's operator on the prompt's logits.
        float[] logits = m.SequenceLogits([1, 7, 3]).AsSpan(2 * 12, 12).ToArray();
        var exact = new float[13];
        new Sampler(options).Distribution(logits, exact.AsSpan(0, 12));
        Assert.True(ChiSquare.Fits(plain[0], exact.Select(p => (double)p).ToArray(), out string d0), "plain, first token: " + d0);

        var lookup = Histograms(m, () => new PromptLookupDrafter(), runs, 1_000_000, options);
        var uniform = Histograms(m, () => new UniformDrafter(12), runs, 2_000_000, options);
        foreach (var (name, spec) in new[] { ("prompt-lookup", lookup), ("uniform", uniform) })
        {
            Assert.True(ChiSquare.Fits(spec[0], exact.Select(p => (double)p).ToArray(), out string d1), $"{name}, first token: {d1}");
            for (int k = 1; k < 3; k++)
                Assert.True(ChiSquare.SameDistribution(plain[k], spec[k], out string d), $"{name}, token {k + 1}: {d}");
        }
    }
}
