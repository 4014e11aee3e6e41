using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Speculative;
using CtcDrafter.Tests.Model;

namespace CtcDrafter.Tests.Speculative;

/// <summary>The trained-drafter machinery (draft folders, feature chains, Medusa heads, CTC collapse) on random weights.</summary>
public class TrainedDrafterTests
{
    /// <summary>
    /// Greedy output equals plain decoding at every budget, and sampling with the same seed emits plain sampling's
    /// tokens, whatever the drafter's trees; the trees are verified, not skipped (some draft tokens are accepted).
    /// </summary>
    [Theory]
    [InlineData("ctc", DraftKind.Ctc, BlankMode.Own)]
    [InlineData("ctc", DraftKind.Ctc, BlankMode.Unk)]
    [InlineData("ctc-nocollapse", DraftKind.Ctc, BlankMode.Own)]
    [InlineData("ctc-nocollapse", DraftKind.Ctc, BlankMode.Unk)]
    [InlineData("ctc-strict", DraftKind.Ctc, BlankMode.Own)]
    [InlineData("ctc-strict", DraftKind.Ctc, BlankMode.Unk)]
    [InlineData("eagle", DraftKind.Eagle, BlankMode.None)]
    [InlineData("medusa", DraftKind.Medusa, BlankMode.None)]
    [InlineData("ctc-nar", DraftKind.CtcNar, BlankMode.Own)]
    [InlineData("ctc-nar-topk", DraftKind.CtcNar, BlankMode.Own)]
    public void OutputEqualsPlainDecodingGreedyAndSampled(string method, DraftKind kind, BlankMode blank)
    {
        using var dir = new TempDir();
        using var m = SmallModel(dir);
        string draft = TestDrafts.Write(dir["draft"], m, kind, blank);
        int sampledTokens = 0, sampledSteps = 0;
        for (int p = 0; p < 5; p++)
        {
            int[] prompt = TestModels.RandomTokens(new Random(p), 3 + p * 5, 11);
            var request = new GenerationRequest(prompt, 60, SamplingOptions.Greedy);
            GenerationResult plain = new Generator(m).Generate(request);
            foreach (int budget in new[] { 2, 5, 12 })
            {
                GenerationResult spec = new Generator(m, DrafterFactory.Create(method, m, draft), budget).Generate(request);
                Assert.Equal(plain.Tokens, spec.Tokens);
                Assert.Equal(method, spec.Stats.Method);
            }
            var sampled = request with { Sampling = new SamplingOptions(0.7f) { Seed = (ulong)(17 + p) } };
            GenerationResult plainSampled = new Generator(m).Generate(sampled);
            GenerationResult specSampled = new Generator(m, DrafterFactory.Create(method, m, draft), 8).Generate(sampled);
            Assert.Equal(plainSampled.Tokens, specSampled.Tokens);
            (sampledTokens, sampledSteps) = (sampledTokens + specSampled.Tokens.Count, sampledSteps + specSampled.Stats.Steps);
        }
        Assert.True(sampledSteps < sampledTokens, "no sampled draft token was ever accepted");
    }

    /// <summary>A random model small enough for many decodes: vocabulary 11, context 160.</summary>
    static LlamaModel SmallModel(TempDir dir) =>
        TestModels.Load(TestModels.Write(dir, RandomModel.Config(hidden: 64, ffn: 96, layers: 2, heads: 4, kvHeads: 2, vocab: 11, context: 160)));

    /// <summary>A draft's own score temperature reshapes its trees, never the output; a bad one is refused by name.</summary>
    [Theory]
    [InlineData("eagle", DraftKind.Eagle)]
    [InlineData("medusa", DraftKind.Medusa)]
    [InlineData("ctc-nar", DraftKind.CtcNar)]
    public void ScoreTemperatureChangesTheTreesNotTheOutput(string method, DraftKind kind)
    {
        using var dir = new TempDir();
        using var m = SmallModel(dir);
        string draft = TestDrafts.Write(dir["draft"], m, kind, kind.HasBlank() ? BlankMode.Own : BlankMode.None);
        string path = Path.Combine(draft, "config.json");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        int[] prompt = TestModels.RandomTokens(new Random(3), 12, 11);
        var request = new GenerationRequest(prompt, 60, SamplingOptions.Greedy);
        GenerationResult plain = new Generator(m).Generate(request);
        var trees = new List<string>();
        foreach (float t in new[] { 0.05f, 4f })
        {
            json["score_temperature"] = t;
            File.WriteAllText(path, json.ToJsonString());
            Assert.Equal(t, DraftConfig.Load(draft).ScoreTemperature);
            var recording = new RecordingDrafter(DrafterFactory.Create(method, m, draft));
            GenerationResult spec = new Generator(m, recording, 12).Generate(request);
            Assert.Equal(plain.Tokens, spec.Tokens);
            trees.Add(string.Join(";", recording.Trees));
        }
        Assert.NotEqual(trees[0], trees[1]);
        foreach (var bad in new System.Text.Json.Nodes.JsonNode[] { 0, -1, "x" })
        {
            json["score_temperature"] = bad;
            File.WriteAllText(path, json.ToJsonString());
            Assert.Contains("score_temperature", Assert.Throws<ModelFormatException>(() => DraftConfig.Load(draft)).Message);
        }
    }

    [Fact]
    public void ADraftForAnotherBaseIsRefused()
    {
        using var dir = new TempDir();
        using var a = TestModels.Load(TestModels.Write(dir, TestModels.Small(), seed: 1, name: "a"));
        using var b = TestModels.Load(TestModels.Write(dir, TestModels.Small(), seed: 2, name: "b"));
        string draft = TestDrafts.Write(dir["draft"], a, DraftKind.Eagle);
        var e = Assert.Throws<ModelFormatException>(() => DrafterFactory.Create("eagle", b, draft));
        Assert.Contains("trained for base model 'a'", e.Message);
        Assert.Contains("not for 'b'", e.Message);
    }

    [Fact]
    public void ACorruptOrMismatchedDraftIsRefused()
    {
        using var dir = new TempDir();
        using var m = TestModels.Load(TestModels.Write(dir, TestModels.Small()));
        string draft = TestDrafts.Write(dir["draft"], m, DraftKind.Ctc, BlankMode.Own);
        Assert.Contains("this is a ctc draft, not a eagle draft", Assert.Throws<ModelFormatException>(() => DrafterFactory.Create("eagle", m, draft)).Message);
        Assert.Contains("needs a trained draft", Assert.Throws<ArgumentException>(() => DrafterFactory.Create("ctc", m, null)).Message);
        File.WriteAllBytes(Path.Combine(draft, "model.safetensors"), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        Assert.Contains("model.safetensors", Assert.Throws<ModelFormatException>(() => DrafterFactory.Create("ctc", m, draft)).Message);
        File.WriteAllText(Path.Combine(draft, "config.json"), "{\"draft_kind\": \"ctc\"}");
        Assert.Contains("base_model", Assert.Throws<ModelFormatException>(() => DrafterFactory.Create("ctc", m, draft)).Message);
        Assert.Contains("draft folder not found", Assert.Throws<ModelFormatException>(() => DrafterFactory.Create("ctc", m, dir["none"])).Message);
    }
}

/// <summary>Another drafter's trees, written down as they are proposed (tokens and parents).</summary>
sealed class RecordingDrafter(IDrafter inner) : IDrafter
{
    public List<string> Trees { get; } = [];
    public string Name => inner.Name;
    public void Reset() => inner.Reset();
    public IDrafter Spawn() => new RecordingDrafter(inner.Spawn());
    public void Observe(ReadOnlySpan<int> tokens, ReadOnlySpan<float> hidden) => inner.Observe(tokens, hidden);
    public TreeTransform Transform => inner.Transform;

    public DraftTree Propose(int root, int maxNodes)
    {
        DraftTree tree = inner.Propose(root, maxNodes);
        Trees.Add(string.Join(",", tree.Tokens) + "/" + string.Join(",", tree.Parents));
        return tree;
    }
}
