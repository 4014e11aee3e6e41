using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Text;

namespace CtcDrafter.Tests.Speculative;

/// <summary>A generator keeps its sequence between calls; stop strings end the text where plain decoding would.</summary>
public class SessionAndStopTests
{
    static string RefS(params string[] parts) => Path.Combine([TestData.RepoRoot, "models", "ref-s", .. parts]);

    [Fact]
    public void ASecondTurnPrefillsOnlyItsNewTokensAndGivesTheTokensOfAFreshPrefill()
    {
        using var m = LlamaModel.Load(RefS());
        TextTokenizer tok = m.Tokenizer!;
        var chat = ChatTemplate.Get("vicuna_v1.1");
        foreach (string method in new[] { "vanilla", "ctc" })
        {
            IDrafter Drafter() => DrafterFactory.Create(method, m, method == "ctc" ? RefS("draft-ctc") : null);
            var session = new Generator(m, Drafter());
            var messages = new List<ChatMessage> { new("user", "What should I pack for a trip to the mountains?") };
            int[] Prompt() => [.. chat.Encode(tok, messages, addGenerationPrompt: true)];
            foreach (var sampling in new[] { SamplingOptions.Greedy, new SamplingOptions(0.8f, Seed: 7) })
            {
                messages.RemoveRange(1, messages.Count - 1);
                int[] firstPrompt = Prompt();
                GenerationResult first = session.Generate(new GenerationRequest(firstPrompt, 40, sampling));
                messages.Add(new ChatMessage("assistant", first.Text.Trim()));
                messages.Add(new ChatMessage("user", "And for a trip to the sea?"));
                int[] second = Prompt();
                GenerationResult reused = session.Generate(new GenerationRequest(second, 40, sampling));
                GenerationResult fresh = new Generator(m, Drafter()).Generate(new GenerationRequest(second, 40, sampling));
                Assert.Equal(fresh.Tokens, reused.Tokens);
                Assert.Equal(second.Length, fresh.Stats.PrefillTokens);
                // Only what follows the common prefix with the cached sequence is run. The cache holds the first prompt
                // and every emitted token but the last (never run), and, when the answer ended inside an accepted
                // path, the rest of that path too.
                int[] cached = [.. firstPrompt, .. first.Tokens.SkipLast(1)];
                int common = cached.Zip(second).TakeWhile(p => p.First == p.Second).Count();
                Assert.InRange(reused.Stats.PrefillTokens, 1, second.Length - common);
                Assert.True(reused.Stats.PrefillTokens < second.Length / 2, $"{method}: prefill of {reused.Stats.PrefillTokens} of {second.Length} tokens");
            }
        }
    }

    [Fact]
    public void TheSamePromptAgainRunsOnlyItsLastToken()
    {
        using var m = LlamaModel.Load(RefS());
        int[] prompt = [.. m.Tokenizer!.Encode("Once upon a time, there was a little dog named Max.", addBos: true)];
        var g = new Generator(m);
        var request = new GenerationRequest(prompt, 20, SamplingOptions.Greedy);
        var a = g.Generate(request);
        var b = g.Generate(request);
        Assert.Equal(a.Tokens, b.Tokens);
        Assert.Equal(1, b.Stats.PrefillTokens);
    }

    [Fact]
    public void TheEarliestStopStringWinsWhereverItIsAndForEveryDrafter()
    {
        using var m = LlamaModel.Load(RefS());
        int[] prompt = [.. m.Tokenizer!.Encode("Once upon a time, there was a little dog named Max.", addBos: true)];
        string free = new Generator(m).Generate(new GenerationRequest(prompt, 60, SamplingOptions.Greedy)).Text;
        // Stops taken from the free text: a late one listed first, an early one (often split across tokens) second.
        string late = free.Substring(free.Length * 2 / 3, 4), early = free.Substring(free.Length / 4, 5);
        int cut = Math.Min(free.IndexOf(late, StringComparison.Ordinal), free.IndexOf(early, StringComparison.Ordinal));
        foreach (string method in new[] { "vanilla", "prompt-lookup", "ctc", "eagle" })
        {
            var drafter = DrafterFactory.Create(method, m, DrafterFactory.TrainedKind(method) is string k ? RefS("draft-" + k) : null);
            var result = new Generator(m, drafter).Generate(new GenerationRequest(prompt, 60, SamplingOptions.Greedy) { StopStrings = [late, early] });
            Assert.Equal(FinishReason.StopString, result.Finish);
            Assert.Equal(free[..cut], result.Text);
            var plain = new Generator(m).Generate(new GenerationRequest(prompt, 60, SamplingOptions.Greedy) { StopStrings = [late, early] });
            Assert.Equal(plain.Tokens, result.Tokens);
        }
    }

    [Fact]
    public void EmptyStopStringsAndNonPositiveLimitsAreRefused()
    {
        using var m = LlamaModel.Load(RefS());
        var g = new Generator(m);
        Assert.Equal("stop", Assert.Throws<RequestFieldException>(() => g.Generate(new GenerationRequest([1], 5, SamplingOptions.Greedy) { StopStrings = [""] })).Field);
        Assert.Equal("max_tokens", Assert.Throws<RequestFieldException>(() => g.Generate(new GenerationRequest([1], 0, SamplingOptions.Greedy))).Field);
        Assert.Equal("temperature", Assert.Throws<RequestFieldException>(() => g.Generate(new GenerationRequest([1], 5, new SamplingOptions(float.PositiveInfinity)))).Field);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(0.8f)]
    public void LogprobsAreBitwiseThoseOfPlainDecodingForEveryDrafter(float temperature)
    {
        using var m = LlamaModel.Load(RefS());
        int[] prompt = [.. m.Tokenizer!.Encode("One day, Lily found a shiny red ball in the park.", addBos: true)];
        var request = new GenerationRequest(prompt, 40, new SamplingOptions(temperature, Seed: 3)) { Logprobs = 5 };
        var plain = new Generator(m).Generate(request);
        Assert.Equal(plain.Tokens.Count, plain.Logprobs!.Count);
        Assert.All(plain.Logprobs, l => Assert.True(l.Logprob <= 0 && l.Top.Count == 5 && l.Top[0].Logprob >= l.Logprob));
        if (temperature == 0) Assert.All(plain.Logprobs, l => Assert.Equal(l.Top[0].Token, l.Token));
        foreach (string method in new[] { "prompt-lookup", "ctc", "medusa" })
        {
            var drafter = DrafterFactory.Create(method, m, DrafterFactory.TrainedKind(method) is string k ? RefS("draft-" + k) : null);
            var spec = new Generator(m, drafter, maxTreeNodes: 12).Generate(request);
            Assert.Equal(plain.Tokens, spec.Tokens);
            for (int i = 0; i < plain.Logprobs.Count; i++)
            {
                Assert.Equal(plain.Logprobs[i].Logprob, spec.Logprobs![i].Logprob);
                Assert.Equal(plain.Logprobs[i].Top, spec.Logprobs[i].Top);
            }
        }
    }
}
