using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Tests.Model;

/// <summary>A forward pass over several sequences at once computes every sequence's rows bitwise as it computes them alone.</summary>
public class BatchedForwardTests
{
    public static TheoryData<WeightFormat> Formats() => [WeightFormat.F32, WeightFormat.BF16, WeightFormat.Q8, WeightFormat.Q4];

    /// <summary>
    /// Random batches: 2 to 6 sequences, each with its own committed cache of 1 to 60 tokens, each putting a random
    /// tree or a causal prompt chunk into the pass; every part's logits, hidden states and new K/V equal those of
    /// the same part run alone on a copy of its sequence.
    /// </summary>
    [Theory]
    [MemberData(nameof(Formats))]
    public void EverySequenceOfABatchIsBitwiseTheSequenceAlone(WeightFormat format)
    {
        using var dir = new TempDir();
        using var m = TestModels.Load(TestModels.Write(dir, RandomModel.Config(hidden: 64, ffn: 96, layers: 2, heads: 4, kvHeads: 2, vocab: 97, context: 256)), format);
        AssertBatchesAreBitwise(m, format.ToString());
    }

    /// <summary>The same for a GGUF Q4_K_M file (Q4_K matrices, Q6_K for the output and ffn_down), in its own blocks.</summary>
    [GgufFact]
    public void EverySequenceOfABatchIsBitwiseTheSequenceAloneInQ4KM()
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, RandomModel.Config(hidden: 256, ffn: 512, layers: 2, heads: 4, kvHeads: 2, vocab: 97, context: 256));
        using var m = TestModels.Load(GgufFixtures.Write(folder, dir["model.gguf"], "q4_k_m"), WeightFormat.Q4);
        AssertBatchesAreBitwise(m, "q4_k_m");
    }

    static void AssertBatchesAreBitwise(LlamaModel m, string format)
    {
        int V = m.Config.VocabSize;
        Transformer pass = m.NewPass(6 * 24);
        for (int seed = 1; seed <= 6; seed++)
        {
            var rng = new Random(seed);
            int B = 2 + rng.Next(5);
            var prefixes = Enumerable.Range(0, B).Select(_ => TestModels.RandomTokens(rng, 1 + rng.Next(60), V)).ToArray();
            var parts = new List<ForwardPart>();
            foreach (int[] prefix in prefixes)
            {
                Transformer own = m.NewTransformer();
                own.Prefill(prefix, []);
                int n = 1 + rng.Next(24);
                int[] tokens = TestModels.RandomTokens(rng, n, V), parents = new int[n], depths = new int[n];
                bool chunk = rng.Next(3) == 0; // a prompt chunk: a chain with the last row's logits only
                for (int i = 0; i < n; i++)
                {
                    parents[i] = chunk ? i - 1 : i == 0 ? -1 : rng.Next(-1, i);
                    depths[i] = parents[i] < 0 ? 0 : depths[parents[i]] + 1;
                }
                parts.Add(new ForwardPart(own.Cache, tokens, [.. depths.Select(d => prefix.Length + d)], parents, chunk ? n - 1 : 0));
            }
            var logits = new float[parts.Sum(p => p.LogitRows) * V];
            pass.Forward(parts, logits);

            for (int b = 0, row = 0, logitRow = 0; b < B; row += parts[b].Rows, logitRow += parts[b].LogitRows, b++)
            {
                ForwardPart p = parts[b];
                Transformer alone = m.NewTransformer();
                alone.Prefill(prefixes[b], []);
                var expected = new float[p.LogitRows * V];
                alone.Forward(p.Tokens, p.Positions, p.Parents, [.. Enumerable.Range(p.LogitsFrom, p.LogitRows)], expected);
                string where = $"{format} seed {seed}, sequence {b} of {B} ({prefixes[b].Length} cached, {p.Rows} rows)";
                Assert.True(logits.AsSpan(logitRow * V, p.LogitRows * V).SequenceEqual(expected), "logits of " + where);
                Assert.True(pass.Hidden(row, p.Rows).SequenceEqual(alone.Hidden(p.Rows)), "hidden states of " + where);
                for (int l = 0; l < m.Config.NumLayers; l++)
                    for (int g = 0; g < m.Config.NumKvHeads; g++)
                    {
                        int L = prefixes[b].Length;
                        Assert.True(p.Cache.Keys(l, g, L, p.Rows).SequenceEqual(alone.Cache.Keys(l, g, L, p.Rows)), $"keys of {where}, layer {l}");
                        Assert.True(p.Cache.Values(l, g, L, p.Rows).SequenceEqual(alone.Cache.Values(l, g, L, p.Rows)), $"values of {where}, layer {l}");
                        Assert.True(p.Cache.Keys(l, g, 0, L).SequenceEqual(alone.Cache.Keys(l, g, 0, L)), $"committed keys of {where}");
                    }
            }
        }
    }

    [Fact]
    public void BadBatchesAreRefused()
    {
        using var dir = new TempDir();
        using var m = TestModels.Load(TestModels.Write(dir, TestModels.Small()));
        Transformer pass = m.NewPass(8), a = m.NewTransformer();
        var logits = new float[16 * m.Config.VocabSize];
        Assert.Throws<ArgumentOutOfRangeException>(() => pass.Forward([], logits));
        var part = new ForwardPart(a.Cache, [1, 2, 3, 4, 5], [0, 1, 2, 3, 4], [-1, 0, 1, 2, 3], 0);
        Assert.Contains("9 rows", Assert.Throws<ArgumentOutOfRangeException>(() => pass.Forward([part, part with { Tokens = [1, 2, 3, 4], Positions = [0, 1, 2, 3], Parents = [-1, 0, 1, 2] }], logits)).Message);
        Assert.Contains("the same cache", Assert.Throws<ArgumentException>(() => pass.Forward([part with { Tokens = [1], Positions = [0], Parents = [-1] }, part with { Tokens = [2], Positions = [0], Parents = [-1] }], logits)).Message);
        Assert.Contains("a parent must be an earlier token", Assert.Throws<ArgumentException>(() => pass.Forward([part with { Parents = [-1, 2, 1, 2, 3] }], logits)).Message);
        Assert.Contains("one entry per token", Assert.Throws<ArgumentException>(() => pass.Forward([part with { Positions = [0] }], logits)).Message);
        Assert.Contains("context of 3 tokens exceeded", Assert.Throws<InvalidOperationException>(() => pass.Forward([part with { Cache = Transformer.NewCache(m.Config, 3) }], logits)).Message);
    }
}
