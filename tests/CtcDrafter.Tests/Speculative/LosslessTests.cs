using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Tests.Model;

namespace CtcDrafter.Tests.Speculative;

/// <summary>Speculative greedy decoding must emit exactly the tokens plain greedy decoding emits.</summary>
public class LosslessTests
{
    static readonly ModelConfig[] Shapes =
    [
        RandomModel.Config(hidden: 64, ffn: 96, layers: 2, heads: 4, kvHeads: 2, vocab: 61, context: 128),
        RandomModel.Config(hidden: 32, ffn: 64, layers: 3, heads: 2, kvHeads: 1, vocab: 23, context: 96, tied: true),
        RandomModel.Config(hidden: 96, ffn: 128, layers: 1, heads: 6, kvHeads: 6, vocab: 40, context: 80),
    ];

    static IEnumerable<IDrafter> Drafters(GenerationResult plain, int promptLength, int vocab, int seed) =>
    [
        new PromptLookupDrafter(),
        new PromptLookupDrafter(maxNgram: 1, maxDraft: 3),
        new OracleDrafter([.. plain.Tokens], promptLength, vocab, seed),
        new OracleDrafter([.. plain.Tokens], promptLength, vocab, seed, errorRate: 0.05, depth: 10, branches: 3),
    ];

    static void AssertSameAsPlain(LlamaModel m, int[] prompt, int maxTokens, int seed, int maxTreeNodes = 16)
    {
        var request = new GenerationRequest(prompt, maxTokens, SamplingOptions.Greedy);
        GenerationResult plain = new Generator(m).Generate(request);
        foreach (IDrafter d in Drafters(plain, prompt.Length, m.Config.VocabSize, seed))
        {
            GenerationResult spec = new Generator(m, d, maxTreeNodes).Generate(request);
            Assert.True(plain.Tokens.SequenceEqual(spec.Tokens),
                $"{d.Name}: plain [{string.Join(",", plain.Tokens)}] vs speculative [{string.Join(",", spec.Tokens)}]");
            Assert.Equal(plain.Finish, spec.Finish);
            Assert.True(spec.Stats.Steps <= plain.Stats.Steps);
        }
    }

    [Fact]
    public void EveryDrafterMatchesPlainGreedyOnRandomModels()
    {
        using var dir = new TempDir();
        for (int s = 0; s < Shapes.Length; s++)
        {
            using var m = TestModels.Load(TestModels.Write(dir, Shapes[s], seed: (ulong)s + 10, name: $"m{s}"));
            var rng = new Random(s);
            for (int p = 0; p < 4; p++)
            {
                // Repetitive prompts give prompt lookup something to find.
                int[] motif = TestModels.RandomTokens(rng, 2 + rng.Next(4), m.Config.VocabSize);
                int[] prompt = [.. Enumerable.Range(0, 1 + rng.Next(4)).SelectMany(_ => motif), .. TestModels.RandomTokens(rng, 1 + rng.Next(5), m.Config.VocabSize)];
                AssertSameAsPlain(m, prompt, maxTokens: 20 + rng.Next(30), seed: p);
            }
        }
    }

    [Fact]
    public void TheContextLimitInsideAPathEndsAsPlainDecodingDoes()
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, Shapes[0]);
        using var m = LlamaModel.Load(folder, new EngineOptions(ContextLength: 40));
        for (int p = 0; p < 4; p++)
        {
            int[] prompt = TestModels.RandomTokens(new Random(p), 5 + p * 7, m.Config.VocabSize);
            var request = new GenerationRequest(prompt, 1000, SamplingOptions.Greedy);
            GenerationResult plain = new Generator(m).Generate(request);
            Assert.Equal(FinishReason.ContextFull, plain.Finish);
            Assert.Equal(40 - prompt.Length + 1, plain.Tokens.Count); // the last token is emitted but never run
            AssertSameAsPlain(m, prompt, 1000, seed: p);
        }
    }

    [Fact]
    public void EndOfSequenceInsideAPathEndsAsPlainDecodingDoes()
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, Shapes[0]);
        int[] prompt = [3, 4, 5, 3, 4, 5, 3];
        int[] free;
        using (var m = TestModels.Load(folder))
            free = [.. new Generator(m).Generate(new GenerationRequest(prompt, 30, SamplingOptions.Greedy)).Tokens];
        foreach (int at in new[] { 0, 5, 12, 20 })
        {
            File.WriteAllText(Path.Combine(folder, "generation_config.json"), $$"""{"eos_token_id": {{free[at]}}}""");
            using var m = TestModels.Load(folder);
            var plain = new Generator(m).Generate(new GenerationRequest(prompt, 30, SamplingOptions.Greedy));
            Assert.Equal(FinishReason.EndOfSequence, plain.Finish);
            Assert.Equal(free[at], plain.Tokens[^1]);
            AssertSameAsPlain(m, prompt, 30, seed: at);
        }
    }

    [Fact]
    public void MaxTokensInsideAPathEndsAsPlainDecodingDoes()
    {
        using var dir = new TempDir();
        using var m = TestModels.Load(TestModels.Write(dir, Shapes[1]));
        foreach (int max in new[] { 1, 2, 3, 7, 13 }) AssertSameAsPlain(m, [1, 2, 3, 1, 2, 3], max, seed: max);
    }

    [Fact]
    public void ATreeBudgetOfOneIsPlainDecoding()
    {
        using var dir = new TempDir();
        using var m = TestModels.Load(TestModels.Write(dir, Shapes[0]));
        AssertSameAsPlain(m, [1, 2, 3, 1, 2, 3], 25, seed: 1, maxTreeNodes: 1);
    }
}
