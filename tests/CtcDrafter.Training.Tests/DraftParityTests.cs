using CtcDrafter.Drafters;
using CtcDrafter.Model;
using CtcDrafter.Training.Drafts;
using CtcDrafter.Training.Export;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Tests;

/// <summary>
/// Draft folders exported from the TorchSharp draft networks make the engine's drafters compute the same
/// distributions: every depth of the CTC/EAGLE chain, every Medusa head, every frame of a ctc-nar draft.
/// </summary>
public class DraftParityTests
{
    const int Vocab = 61, Depth = 5;

    [Theory]
    [InlineData(DraftKind.Ctc, BlankMode.Own, false)]
    [InlineData(DraftKind.Ctc, BlankMode.Unk, false)]
    [InlineData(DraftKind.Eagle, BlankMode.None, false)]
    [InlineData(DraftKind.Eagle, BlankMode.None, true)]
    [InlineData(DraftKind.Medusa, BlankMode.None, false)]
    [InlineData(DraftKind.CtcNar, BlankMode.Own, false)]
    [InlineData(DraftKind.CtcNar, BlankMode.Own, true)]
    public void EngineDrafterMatchesTheTorchSharpNetwork(DraftKind kind, BlankMode blank, bool bfloat16)
    {
        using var temp = new TempFolder();
        using var model = TinyBase.Load(TinyBase.Write(temp["base"], Vocab, tokenizer: false));
        using var frozen = FrozenBase.From(model);
        manual_seed(7);
        using DraftNetwork network = kind switch
        {
            DraftKind.Medusa => new MedusaHeads(frozen, heads: 4),
            DraftKind.CtcNar => new CtcNarDraft(FeatureChainDraft.LayerConfig(model.Config), frozen, futureTokens: 3, upsampling: 2),
            _ => new FeatureChainDraft(FeatureChainDraft.LayerConfig(model.Config), frozen, kind, blank),
        };
        Randomize(network, bfloat16);
        string folder = temp["draft"];
        DraftExporter.Export(folder, network, BaseIdentity.Of(model), null, "card", bfloat16 ? ExportDType.BFloat16 : ExportDType.Float32);

        var random = new Random(3);
        int[] prompt = [1, .. Enumerable.Range(0, 20).Select(_ => random.Next(3, Vocab))];
        int root = random.Next(3, Vocab);
        float[] hidden = model.SequenceHiddenStates(prompt); // [n, H]
        using var module = DraftModule.Load(folder, model);
        List<float[]> expected, actual;
        if (kind == DraftKind.Medusa)
        {
            var drafter = new MedusaDrafter((MedusaHeadsDraft)module);
            drafter.Observe(prompt, hidden);
            actual = drafter.Heads(4, Vocab).Select(Dense).ToList();
            using var h = tensor(hidden[^model.Config.HiddenSize..], [1, model.Config.HiddenSize]);
            using var logits = ((MedusaHeads)network).Logits(h).softmax(-1); // [heads, 1, V]
            expected = Enumerable.Range(0, 4).Select(k => logits[k, 0].data<float>().ToArray()).ToList();
        }
        else if (kind == DraftKind.CtcNar)
        {
            var drafter = new CtcNarDrafter((FeatureLayerDraft)module);
            drafter.Observe(prompt, hidden);
            actual = drafter.Frames(root, Vocab + 1).Select(Dense).ToList();
            using var tokens = tensor([.. prompt.Skip(1).Select(t => (long)t), root]);
            using var features = tensor(hidden, [prompt.Length, model.Config.HiddenSize]);
            var nar = (CtcNarDraft)network;
            using var probs = nar.Logits(nar.FrameFeatures(tokens, features, [prompt.Length - 1])).softmax(-1); // [1, F, C]
            expected = Enumerable.Range(0, nar.Frames).Select(f => probs[0, f].data<float>().ToArray()).ToList();
        }
        else
        {
            var drafter = new FeatureTreeDrafter((FeatureLayerDraft)module, Depth);
            drafter.Observe(prompt, hidden);
            int classes = Vocab + (blank == BlankMode.Own ? 1 : 0);
            actual = drafter.Chain(root, Depth, classes).Select(Dense).ToList();
            using var tokens = tensor([.. prompt.Skip(1).Select(t => (long)t), root]);
            using var features = tensor(hidden, [prompt.Length, model.Config.HiddenSize]);
            using var probs = ((FeatureChainDraft)network).ChainLogits(tokens, features, [prompt.Length - 1], Depth).softmax(-1); // [depth, 1, C]
            expected = Enumerable.Range(0, Depth).Select(d => probs[d, 0].data<float>().ToArray()).ToList();
        }
        Assert.Equal(expected.Count, actual.Count);
        for (int d = 0; d < expected.Count; d++)
        {
            Assert.All(expected[d].Concat(actual[d]), p => Assert.True(float.IsFinite(p)));
            float worst = expected[d].Zip(actual[d], (e, a) => Math.Abs(e - a)).Max();
            Assert.True(worst <= 1e-4f, $"depth {d + 1}: largest difference {worst}");
        }
    }

    [Theory]
    [InlineData(DraftKind.Eagle3, false)]
    [InlineData(DraftKind.Eagle3, true)]
    [InlineData(DraftKind.Eagle3Ctc, false)]
    public void EngineEagle3DrafterMatchesTheTorchSharpNetwork(DraftKind kind, bool bfloat16)
    {
        using var temp = new TempFolder();
        // Eight layers, so that EAGLE-3's low, middle and high layers (2, 4, 5) are three different ones.
        RandomModel.Write(temp["base"], RandomModel.Config(hidden: 64, ffn: 96, layers: 8, heads: 4, kvHeads: 2, vocab: Vocab, context: 256), seed: 5);
        using var model = TinyBase.Load(temp["base"]);
        using var frozen = FrozenBase.From(model);
        manual_seed(7);
        int[] layers = BaseFeatures.Eagle3Default(model.Config.NumLayers);
        using var network = new Eagle3ChainDraft(Eagle3ChainDraft.LayerConfig(model.Config), frozen, layers, testSteps: 6, kind: kind);
        Randomize(network, bfloat16);
        string folder = temp["draft"];
        DraftExporter.Export(folder, network, BaseIdentity.Of(model), null, "card", bfloat16 ? ExportDType.BFloat16 : ExportDType.Float32);

        var random = new Random(3);
        int[] prompt = [1, .. Enumerable.Range(0, 20).Select(_ => random.Next(3, Vocab))];
        int root = random.Next(3, Vocab);
        float[] states = model.SequenceStates(prompt, layers); // [n, 3H]
        using var module = DraftModule.Load(folder, model);
        var drafter = new FeatureTreeDrafter(module, Depth);
        Assert.Equal(layers, drafter.Features);
        drafter.Observe(prompt, states);
        var actual = drafter.Chain(root, Depth, kind == DraftKind.Eagle3Ctc ? Vocab + 1 : Vocab).Select(Dense).ToList();
        using var tokens = tensor([.. prompt.Skip(1).Select(t => (long)t), root], [1, prompt.Length]);
        using var g = tensor(states, [1, prompt.Length, layers.Length * model.Config.HiddenSize]);
        using var probs = network.ChainLogits(tokens, g, [prompt.Length - 1], Depth).softmax(-1); // [depth, 1, classes]
        // Chains grown together from several starts (as training grows them) do not see each other.
        using var together = network.ChainLogits(tokens, g, [4, prompt.Length - 1, 11], Depth).softmax(-1); // [depth, 3, classes]
        using var alone = network.ChainLogits(tokens, g, [11], Depth).softmax(-1);
        Assert.True(together.select(1, 1).allclose(probs.select(1, 0), rtol: 0, atol: 1e-6), "the chain from the last pair changed beside others");
        Assert.True(together.select(1, 2).allclose(alone.select(1, 0), rtol: 0, atol: 1e-6), "the chain from pair 11 changed beside others");
        for (int d = 0; d < Depth; d++)
        {
            float[] expected = probs[d, 0].data<float>().ToArray();
            Assert.All(expected.Concat(actual[d]), p => Assert.True(float.IsFinite(p)));
            float worst = expected.Zip(actual[d], (e, a) => Math.Abs(e - a)).Max();
            Assert.True(worst <= 1e-4f, $"depth {d + 1}: largest difference {worst}");
        }
    }

    /// <summary>
    /// Random weights of about the scale of trained ones (zero-initialised ones included), so that every part of
    /// the computation shows in the distributions without saturating them.
    /// </summary>
    static void Randomize(DraftNetwork network, bool roundToBf16)
    {
        using var noGrad = no_grad();
        foreach (var (name, parameter) in network.named_parameters())
        {
            double scale = 1.0 / Math.Sqrt(parameter.shape[^1]);
            parameter.copy_(name.EndsWith("norm.weight", StringComparison.Ordinal) ? rand_like(parameter) + 0.5
                : name.EndsWith("head.weight", StringComparison.Ordinal) && name.StartsWith("medusa", StringComparison.Ordinal) ? parameter + randn_like(parameter) * scale
                : randn_like(parameter) * scale);
            if (roundToBf16) parameter.copy_(parameter.to(ScalarType.BFloat16).to(float32));
        }
    }

    static float[] Dense(Speculative.DepthDistribution d)
    {
        var p = new float[d.Tokens.Length];
        for (int i = 0; i < d.Tokens.Length; i++) p[d.Tokens[i]] = d.Probs[i];
        return p;
    }
}
