using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Speculative;
using CtcDrafter.Text;

namespace CtcDrafter.Tests.Speculative;

/// <summary>The committed drafts of models/ref-s and models/ref-m, trained by ctcdrafter-train: they load against
/// their base, draft losslessly, and accept tokens (an export or loading mismatch would leave them guessing).</summary>
public class ReferenceDraftTests
{
    static string Folder(string model, params string[] parts) => Path.Combine([TestData.RepoRoot, "models", model, .. parts]);

    [Theory]
    [InlineData("ref-s", "ctc")]
    [InlineData("ref-s", "eagle")]
    [InlineData("ref-s", "medusa")]
    [InlineData("ref-s", "ctc-nocollapse")]
    [InlineData("ref-s", "ctc-strict")]
    [InlineData("ref-m", "ctc")]
    [InlineData("ref-m", "eagle")]
    [InlineData("ref-m", "medusa")]
    [InlineData("ref-m", "ctc-nocollapse")]
    [InlineData("ref-m", "ctc-strict")]
    [InlineData("ref-m", "ctc-nar")]
    [InlineData("ref-m", "eagle3")]
    [InlineData("ref-m", "eagle3-ctc")]
    public void TrainedDraftIsLosslessAndAccepts(string model, string kind)
    {
        using var m = LlamaModel.Load(Folder(model));
        var chat = ChatTemplate.Get("vicuna_v1.1");
        int[] Chat(string q) => [.. chat.Encode(m.Tokenizer!, [new ChatMessage("user", q)], addGenerationPrompt: true)];
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
            var spec = new Generator(m, DrafterFactory.Create(kind, m, Folder(model, $"draft-{DrafterFactory.TrainedKind(kind)}")), maxTreeNodes: 8).Generate(request);
            Assert.Equal(plain.Tokens, spec.Tokens);
            tokens += spec.Stats.NewTokens;
            steps += spec.Stats.Steps;
        }
        Assert.True(tokens / steps > 1.5, $"{kind}: tau {tokens / steps:F2}");
    }

    /// <summary>Wraps a chain drafter: at each step, how deep its own greedy chain runs inside the tree it proposes.</summary>
    sealed class ChainDepthSpy(FeatureTreeDrafter inner, int vocab) : IDrafter
    {
        public readonly List<int> Depths = [];
        public string Name => inner.Name;
        public void Reset() => inner.Reset();
        public IDrafter Spawn() => new ChainDepthSpy((FeatureTreeDrafter)inner.Spawn(), vocab);
        public void Observe(ReadOnlySpan<int> tokens, ReadOnlySpan<float> hidden) => inner.Observe(tokens, hidden);
        public DraftTree Propose(int root, int maxNodes)
        {
            // The chain goes on with the most likely real token (a ctc draft's blank is class id vocab).
            int[] chain = inner.Chain(root, 8, 2).Select(d => d.Tokens.First(t => t < vocab)).ToArray();
            DraftTree tree = inner.Propose(root, maxNodes);
            int node = 0, depth = 0;
            for (; depth < chain.Length; depth++)
            {
                node = tree.Children(node).FirstOrDefault(c => tree.Token(c) == chain[depth], -1);
                if (node < 0) break;
            }
            Depths.Add(depth);
            return tree;
        }
    }

    /// <summary>
    /// The tree a chain drafter proposes carries its own greedy chain deep down, where the chain is right most of
    /// the time. Scored with the drafts' flat distributions as they come, the tree spent its nodes beside the
    /// chain and carried it 2.8 (eagle) and 3.0 (ctc) tokens deep here; sharpened, 7.3 and 7.6 of 8.
    /// </summary>
    [Theory]
    [InlineData("eagle")]
    [InlineData("ctc")]
    public void ProposedTreeCarriesTheGreedyChain(string method)
    {
        using var m = LlamaModel.Load(Folder("ref-m"));
        int[] prompt = [.. m.Tokenizer!.Encode("Once upon a time, there was a little dog named Max. Max liked to play in the park.", addBos: true)];
        var spy = new ChainDepthSpy((FeatureTreeDrafter)DrafterFactory.Create(method, m, Folder("ref-m", $"draft-{method}")), m.Config.VocabSize);
        var request = new GenerationRequest(prompt, 96, SamplingOptions.Greedy);
        var result = new Generator(m, spy, maxTreeNodes: 16).Generate(request);
        Assert.Equal(new Generator(m).Generate(request).Tokens, result.Tokens);
        double mean = spy.Depths.Average();
        Assert.True(mean >= 4.5, $"{method}: the greedy chain runs {mean:F2} tokens deep in the tree on average");
    }

    /// <summary>
    /// Sampling at temperature 0.7 with the trained CTC drafter has the statistics of plain sampling: the tokens
    /// at output positions 2-5 (the first comes from the prefill) over many seeds, chi-square at 0.001.
    /// </summary>
    [Theory]
    [InlineData("ref-s")]
    [InlineData("ref-m")]
    public void CtcSamplingAtTemperature07HasThePlainStatistics(string model)
    {
        // The models are stored in bf16, so the bf16 runtime computes exactly what f32 does, in half the time.
        using var m = LlamaModel.Load(Folder(model), new EngineOptions(CtcDrafter.Kernels.WeightFormat.BF16));
        int[] prompt = [.. m.Tokenizer!.Encode("Once upon a time, there was a little dog named Max. One day, Max", addBos: true)];
        int V = m.Config.VocabSize;
        const int runs = 1500, positions = 5;
        double tokens = 0, steps = 0;
        long[][] Histograms(IDrafter drafter, ulong seedBase)
        {
            (tokens, steps) = (0, 0);
            var h = Enumerable.Range(0, positions).Select(_ => new long[V + 1]).ToArray();
            var g = new Generator(m, drafter, maxTreeNodes: 8);
            for (int r = 0; r < runs; r++)
            {
                var result = g.Generate(new GenerationRequest(prompt, positions, new SamplingOptions(0.7f, Seed: seedBase + (ulong)r)));
                for (int k = 0; k < positions; k++) h[k][k < result.Tokens.Count ? result.Tokens[k] : V]++;
                (tokens, steps) = (tokens + result.Stats.NewTokens - 1, steps + result.Stats.Steps);
            }
            return h;
        }
        long[][] plain = Histograms(new NoDrafter(), 0);
        var ctc = DrafterFactory.Create("ctc", m, Folder(model, "draft-ctc"));
        long[][] spec = Histograms(ctc, 1_000_000);
        Assert.True(tokens / steps > 1.3, $"the drafter should be accepted while sampling: {tokens / steps:F2} tokens per step");
        for (int k = 1; k < positions; k++)
            Assert.True(ChiSquare.SameDistribution(plain[k], spec[k], out string d, pool: 10), $"token {k + 1}: {d}");
    }
}
