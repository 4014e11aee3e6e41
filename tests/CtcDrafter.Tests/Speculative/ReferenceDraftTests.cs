using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Text;

namespace CtcDrafter.Tests.Speculative;

/// <summary>The committed drafts of models/ref-s, trained by ctcdrafter-train: they load against their base, draft
/// losslessly, and accept tokens (an export or loading mismatch would leave them guessing).</summary>
public class ReferenceDraftTests
{
    static string Folder(params string[] parts) => Path.Combine([TestData.RepoRoot, "models", "ref-s", .. parts]);

    [Theory]
    [InlineData("ctc")]
    [InlineData("eagle")]
    [InlineData("medusa")]
    [InlineData("ctc-nocollapse")]
    public void TrainedDraftOfRefSIsLosslessAndAccepts(string kind)
    {
        using var m = LlamaModel.Load(Folder());
        var chat = ChatTemplate.Get("vicuna_v1.1");
        int[] Chat(string q) => [.. m.Tokenizer!.Encode(chat.Render([new ChatMessage("user", q)], addGenerationPrompt: true), addBos: true, parseSpecial: true)];
        int[][] prompts =
        [
            Chat("Please carefully read the following math question, give a solution and the final answer(put the final answer after ### at the end): " +
                "A baker sells 12 cakes a day for 5 days. How many cakes does he sell?"),
            Chat("What should I pack for a trip to the mountains?"),
            [.. m.Tokenizer!.Encode("Once upon a time, there was a little dog named Max.", addBos: true)],
        ];
        double tokens = 0, steps = 0;
        foreach (int[] prompt in prompts)
        {
            var request = new GenerationRequest(prompt, 64, SamplingOptions.Greedy);
            var plain = new Generator(m).Generate(request);
            var spec = new Generator(m, DrafterFactory.Create(kind, m, Folder($"draft-{DrafterFactory.TrainedKind(kind)}")), maxTreeNodes: 8).Generate(request);
            Assert.Equal(plain.Tokens, spec.Tokens);
            tokens += spec.Stats.NewTokens;
            steps += spec.Stats.Steps;
        }
        Assert.True(tokens / steps > 1.5, $"{kind}: tau {tokens / steps:F2}");
    }
}
