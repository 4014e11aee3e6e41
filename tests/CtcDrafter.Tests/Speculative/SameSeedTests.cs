using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using CtcDrafter.Kernels;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Text;

namespace CtcDrafter.Tests.Speculative;

/// <summary>
/// The contract of sampling: with the same seed and sampling options, speculative decoding with any drafter emits
/// exactly the tokens plain sampling emits (one random draw per emitted token, from bitwise the same logits), and
/// greedy decoding is identical in every weight format. On the committed reference models and their drafts.
/// </summary>
public class SameSeedTests
{
    static string Folder(string model, params string[] parts) => Path.Combine([TestData.RepoRoot, "models", model, .. parts]);

    /// <summary>Every method the model's committed drafts serve.</summary>
    static string[] Methods(string model) => model == "ref-m"
        ? ["prompt-lookup", "medusa", "eagle", "ctc", "ctc-strict", "ctc-nar", "eagle3", "eagle3-ctc"]
        : ["prompt-lookup", "medusa", "eagle", "ctc", "ctc-strict"];

    static readonly string[] Questions =
    [
        "What should I pack for a trip to the mountains?", "Tell me a story about a brave little cat.",
        "How do plants make their food?", "Write a short poem about the sea.", "Why is the sky blue?",
        "Please carefully read the following math question, give a solution and the final answer(put the final answer after ### at the end): " +
            "Tom has 3 apples and buys 4 more. How many apples does he have?",
        "What is the capital of France?", "Give me three tips for learning to cook.",
        "Explain what a computer does.", "Describe your favourite animal.",
    ];

    static readonly string[] Openings =
    [
        "Once upon a time, there was a little dog named Max.", "One day, Lily found a shiny red ball in the park.",
        "The sun was shining and the birds were singing.", "Tim and his mom went to the store.",
        "There was a big tree near the river.", "ROMEO:\nWhat light through yonder window breaks?",
        "Anna wanted to build a tall tower of blocks.", "It was a cold winter night.",
        "The little boat sailed across the lake.", "Ben had a red kite.",
    ];

    /// <summary>20 prompts (chat questions in the Vicuna template, story openings), each with 5 seeds and sampling settings.</summary>
    static IEnumerable<(int[] Prompt, SamplingOptions Sampling)> Pairs(LlamaModel m)
    {
        var chat = ChatTemplate.Get("vicuna_v1.1");
        TextTokenizer tok = m.Tokenizer!;
        var prompts = Questions.Select(q => chat.Encode(tok, [new ChatMessage("user", q)], addGenerationPrompt: true))
            .Concat(Openings.Select(o => tok.Encode(o, addBos: true))).Select(p => p.ToArray()).ToList();
        SamplingOptions[] settings = [new(0.7f), new(1.0f), new(0.8f, TopK: 40), new(0.9f, TopP: 0.9f), new(1.0f, TopK: 20, TopP: 0.95f)];
        for (int p = 0; p < prompts.Count; p++)
            for (int s = 0; s < settings.Length; s++)
                yield return (prompts[p], settings[s] with { Seed = (ulong)(1000 * p + s) });
    }

    [Theory]
    [InlineData("ref-s", 32)]
    [InlineData("ref-m", 24)]
    public void SpeculativeSamplingEmitsPlainSamplingsTokensForTheSameSeed(string model, int maxTokens)
    {
        using var m = LlamaModel.Load(Folder(model));
        var plain = new Generator(m);
        // The adaptive budget (the default of every command) changes the trees from step to step, never the tokens.
        var speculative = Methods(model).ToDictionary(x => x, x => new Generator(m,
            DrafterFactory.Create(x, m, DrafterFactory.TrainedKind(x) is string k ? Folder(model, "draft-" + k) : null), adaptive: true));
        int pairs = 0, accepted = 0;
        foreach (var (prompt, sampling) in Pairs(m))
        {
            var request = new GenerationRequest(prompt, maxTokens, sampling);
            IReadOnlyList<int> expected = plain.Generate(request).Tokens;
            foreach (var (method, g) in speculative)
            {
                GenerationResult r = g.Generate(request);
                Assert.True(expected.SequenceEqual(r.Tokens),
                    $"{model} {method}, seed {sampling.Seed}, {sampling}: plain [{string.Join(",", expected)}] vs [{string.Join(",", r.Tokens)}]");
                accepted += r.Stats.NewTokens - r.Stats.Steps - 1;
            }
            pairs++;
        }
        Assert.Equal(100, pairs);
        Assert.True(accepted > 0, "no draft token was ever accepted: the test would not exercise speculation");
    }

    [Theory]
    [InlineData("ref-s", WeightFormat.BF16)]
    [InlineData("ref-s", WeightFormat.Q8)]
    [InlineData("ref-m", WeightFormat.BF16)]
    [InlineData("ref-m", WeightFormat.Q8)]
    [InlineData("ref-m", WeightFormat.Q4)]
    public void GreedyIsIdenticalForEveryDrafterInEveryFormat(string model, WeightFormat format)
    {
        using var m = LlamaModel.Load(Folder(model), new EngineOptions(format));
        var plain = new Generator(m);
        var speculative = Methods(model).Select(x => new Generator(m,
            DrafterFactory.Create(x, m, DrafterFactory.TrainedKind(x) is string k ? Folder(model, "draft-" + k) : null), adaptive: true)).ToList();
        foreach (var (prompt, _) in Pairs(m).Where((_, i) => i % 5 == 0))
        {
            var request = new GenerationRequest(prompt, 48, SamplingOptions.Greedy);
            IReadOnlyList<int> expected = plain.Generate(request).Tokens;
            foreach (Generator g in speculative) Assert.Equal(expected, g.Generate(request).Tokens);
        }
    }
}
