using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Speculative;
using CtcDrafter.Tests.Cli;
using CtcDrafter.Tests.Model;

namespace CtcDrafter.Tests.DraftCheckpoints;

/// <summary>
/// EAGLE-3 drafting: the base keeps the states of chosen layers (checked against a PyTorch LLaMA), an imported EAGLE-3
/// checkpoint gives the distributions of an independent PyTorch implementation of its module, both engines' ways of
/// naming the layers mean the same layers, the export is the official file, decoding with it is the base's own
/// output, and broken tables are refused.
/// </summary>
public class Eagle3Tests
{
    static DraftFixtures Fx => DraftFixtures.Get;

    static float[] Dense(DepthDistribution d, int classes)
    {
        var p = new float[classes];
        for (int i = 0; i < d.Tokens.Length; i++) p[d.Tokens[i]] = d.Probs[i];
        return p;
    }

    static DraftConfig Import(string checkpoint, string output)
    {
        using var b = TestModels.Load(Fx.DeepBase);
        return Eagle3Checkpoint.Import(checkpoint, b, output);
    }

    [TorchFact]
    public void BaseKeepsTheInputOfEveryLayerAndTheFinalState()
    {
        using var m = TestModels.Load(Fx.DeepBase);
        int[] tokens = Fx.Expected["base_tokens"]!.AsArray().Select(t => (int)t!).ToArray();
        int n = tokens.Length, H = m.Config.HiddenSize, L = m.Config.NumLayers;
        int[] sources = [.. Enumerable.Range(0, L), BaseFeatures.Final];
        Transformer pass = m.NewPass(16, sources);
        var cache = Transformer.NewCache(m.Config, 64);
        pass.Forward([new ForwardPart(cache, tokens, [.. Enumerable.Range(0, n)], [.. Enumerable.Range(-1, n)], n)], []);
        float[] got = pass.Features(0, n).ToArray();
        float[] final = Fx.Rows("base_final");
        var inputs = Fx.Expected["base_layer_inputs"]!.AsArray().Select(l => l!.AsArray().SelectMany(r => r!.AsArray().Select(v => (float)v!)).ToArray()).ToArray();
        for (int t = 0; t < n; t++)
            for (int s = 0; s < sources.Length; s++)
            {
                float[] want = s < L ? inputs[s][(t * H)..((t + 1) * H)] : final[(t * H)..((t + 1) * H)];
                float[] have = got[((t * sources.Length + s) * H)..((t * sources.Length + s + 1) * H)];
                Assert.True(TestModels.MaxAbsDiff(have, want) < 1e-4, $"token {t}, source {sources[s]}: {TestModels.MaxAbsDiff(have, want)}");
            }
        // The final-state source is the hidden state every other drafter reads.
        Assert.True(TestModels.MaxAbsDiff(pass.Hidden(0, n).ToArray(), final) < 1e-4);
    }

    [TorchFact]
    public void KeptStatesInABatchAreBitwiseThoseOfTheSequenceAlone()
    {
        using var m = TestModels.Load(Fx.DeepBase);
        int[] sources = [5, 2, BaseFeatures.Final, 4];
        var rng = new Random(3);
        int[] a = TestModels.RandomTokens(rng, 7, 97), b = TestModels.RandomTokens(rng, 4, 97);
        ForwardPart Part(int[] t, KvCache c) => new(c, t, [.. Enumerable.Range(0, t.Length)], [.. Enumerable.Range(-1, t.Length)], t.Length);
        Transformer batch = m.NewPass(16, sources), alone = m.NewPass(16, sources);
        batch.Forward([Part(a, Transformer.NewCache(m.Config, 32)), Part(b, Transformer.NewCache(m.Config, 32))], []);
        alone.Forward([Part(b, Transformer.NewCache(m.Config, 32))], []);
        Assert.True(batch.Features(a.Length, b.Length).SequenceEqual(alone.Features(0, b.Length)));
    }

    [TorchTheory]
    [InlineData("eagle3-bin", "eagle3", new[] { 2, 4, 5 }, 60)] // torch.save with LongStorage d2t, BoolStorage t2d; no layer ids: EAGLE-3's default
    [InlineData("eagle3-st", "eagle3-st", new[] { 1, 4, 7 }, 97)] // safetensors float16, SGLang's ids (outputs of layers 0, 3, 6)
    [InlineData("eagle3-vllm-st", "eagle3-st", new[] { 1, 4, 7 }, 97)] // the same weights, vLLM's ids (inputs of layers 1, 4, 7)
    public void ImportedEagle3GivesTheCheckpointsDistributions(string checkpoint, string expected, int[] layers, int draftVocab)
    {
        using var dir = new TempDir();
        DraftConfig c = Import(Fx.Checkpoint(checkpoint), dir["draft"]);
        Assert.Equal((DraftKind.Eagle3, draftVocab), (c.Kind, c.DraftVocabSize));
        Assert.Equal(layers, c.FeatureLayers);
        using var b = TestModels.Load(Fx.DeepBase);
        var drafter = (FeatureTreeDrafter)DrafterFactory.Create("eagle3", b, dir["draft"]);
        Assert.Equal("eagle3", drafter.Name);
        Assert.Equal(layers, drafter.Features);
        drafter.Observe(Fx.Tokens, Fx.Rows("eagle3_features"));
        float[][] want = Fx.Distributions(expected);
        var got = drafter.Chain(Fx.Root, want.Length, b.Config.VocabSize);
        for (int d = 0; d < want.Length; d++)
        {
            double diff = TestModels.MaxAbsDiff(Dense(got[d], b.Config.VocabSize), want[d]);
            Assert.True(diff < 1e-4, $"depth {d + 1}: {diff}");
        }
    }

    /// <summary>An import exported again is the official file it came from, tensor for tensor (t2d rebuilt from d2t).</summary>
    [TorchTheory]
    [InlineData("eagle3-st")]
    [InlineData("eagle3-vllm-st")]
    public void ExportOfAnImportIsTheOfficialFile(string checkpoint)
    {
        using var dir = new TempDir();
        Import(Fx.Checkpoint(checkpoint), dir["draft"]);
        using (var b = TestModels.Load(Fx.DeepBase)) Eagle3Checkpoint.Export(dir["draft"], b, dir["out"]);
        using var original = new SafeTensorsFile(Path.Combine(Fx.Checkpoint(checkpoint), "model.safetensors"));
        using var exported = new SafeTensorsFile(Path.Combine(dir["out"], "model.safetensors"));
        Assert.Equal(original.Tensors.Keys.Order(), exported.Tensors.Keys.Order());
        foreach (string n in original.Tensors.Keys) Assert.True(DraftRoundTripTests.SameBytes(original.Tensors[n], exported.Tensors[n]), n);
        // Imported again, the export names the same layers.
        Assert.Equal([1, 4, 7], Import(dir["out"], dir["again"]).FeatureLayers);
    }

    [TorchTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void DecodingWithAnEagle3DraftIsTheBaseModelsOwnOutput(bool sampled)
    {
        using var dir = new TempDir();
        Import(Fx.Checkpoint("eagle3-bin"), dir["draft"]);
        using var m = TestModels.Load(Fx.DeepBase);
        var rng = new Random(11);
        for (int i = 0; i < 4; i++)
        {
            var request = new GenerationRequest(TestModels.RandomTokens(rng, 3 + 5 * i, 97), 40,
                sampled ? new SamplingOptions(0.9f, Seed: (ulong)i) : SamplingOptions.Greedy);
            GenerationResult plain = new Generator(m).Generate(request);
            GenerationResult drafted = new Generator(m, DrafterFactory.Create("eagle3", m, dir["draft"]), maxTreeNodes: 12).Generate(request);
            Assert.Equal(plain.Tokens, drafted.Tokens);
            Assert.Equal("eagle3", drafted.Stats.Method);
        }
    }

    /// <summary>A batch serving eagle3 beside a drafter of the final state keeps both kinds of states in every slot.</summary>
    [TorchFact]
    public async Task ABatchServesEagle3BesideOtherMethods()
    {
        using var dir = new TempDir();
        Import(Fx.Checkpoint("eagle3-bin"), dir["draft"]);
        using var m = TestModels.Load(Fx.DeepBase);
        using var batch = new BatchGenerator(m, [DrafterFactory.Create("eagle3", m, dir["draft"]), new PromptLookupDrafter(), new NoDrafter()],
            new BatchOptions { Parallel = 2 });
        var rng = new Random(5);
        var prompts = Enumerable.Range(0, 6).Select(i => TestModels.RandomTokens(rng, 4 + i, 97)).ToArray();
        string[] methods = ["eagle3", "prompt-lookup", "vanilla"];
        var runs = prompts.Select((p, i) => batch.GenerateAsync(new GenerationRequest(p, 24, SamplingOptions.Greedy), methods[i % 3])).ToArray();
        await Task.WhenAll(runs);
        for (int i = 0; i < prompts.Length; i++)
            Assert.Equal(new Generator(m).Generate(new GenerationRequest(prompts[i], 24, SamplingOptions.Greedy)).Tokens, runs[i].Result.Tokens);
    }

    [TorchFact]
    public void ConvertDraftImportsAndExportsEagle3()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("convert", "draft", "--from", "eagle3", "--checkpoint", Fx.Checkpoint("eagle3-bin"), "--base", Fx.DeepBase, "--out", dir["draft"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("eagle3 draft (one layer over base layers 2, 4, 5, draft vocabulary 60)", r.Stdout);
        r = CliRunner.Run("convert", "draft", "--to", "eagle3", "--draft", dir["draft"], "--base", Fx.DeepBase, "--out", dir["out"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.True(File.Exists(Path.Combine(dir["out"], "model.safetensors")));
        r = CliRunner.Run("convert", "draft", "--to", "eagle", "--draft", dir["draft"], "--base", Fx.DeepBase, "--out", dir["wrong"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("has no EAGLE-1 layout: export it with --to eagle3", r.Stderr);
    }

    /// <summary>Copies eagle3-bin's config and tensors (as safetensors) with <paramref name="edit"/> applied.</summary>
    static string Edited(TempDir dir, string name, Action<List<SafeTensorsWriter.Entry>> edit, Func<string, string>? config = null)
    {
        string folder = dir[name];
        Directory.CreateDirectory(folder);
        string json = File.ReadAllText(Path.Combine(Fx.Checkpoint("eagle3-bin"), "config.json"));
        File.WriteAllText(Path.Combine(folder, "config.json"), config?.Invoke(json) ?? json);
        using (var store = new TorchCheckpointStore(Path.Combine(Fx.Checkpoint("eagle3-bin"), "pytorch_model.bin")))
        {
            var entries = store.All.Select(t => DraftCheckpoint.Copy(t, t.Name)).ToList();
            edit(entries);
            SafeTensorsWriter.Write(Path.Combine(folder, "model.safetensors"), entries);
        }
        return folder;
    }

    static string Refusal(string checkpoint)
    {
        using var dir = new TempDir();
        var e = Assert.Throws<ModelFormatException>(() => Import(checkpoint, dir["draft"]));
        Assert.False(Directory.Exists(dir["draft"]), "nothing is written for a refused checkpoint");
        return e.Message;
    }

    static SafeTensorsWriter.Entry Longs(string name, long[] v) => new(name, TensorDType.I64, [v.Length], System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan()).ToArray());

    [TorchFact]
    public void BrokenTablesAndForeignLayersAreRefused()
    {
        using var dir = new TempDir();
        string outside = Edited(dir, "outside", e => e[e.FindIndex(t => t.Name == "d2t")] = Longs("d2t", [.. Enumerable.Repeat(90L, 60)]));
        Assert.Contains("d2t maps draft id 7 to token 97, outside the base vocabulary of 97", Refusal(outside));
        string twice = Edited(dir, "twice", e => e[e.FindIndex(t => t.Name == "d2t")] = Longs("d2t", [.. Enumerable.Range(0, 60).Select(d => (long)-d)]));
        Assert.Contains("d2t maps two draft ids to token 0", Refusal(twice));
        string t2d = Edited(dir, "t2d", e => e[e.FindIndex(t => t.Name == "t2d")] = new("t2d", TensorDType.BOOL, [97], new byte[97]));
        Assert.Matches("t2d says token [0-9]+ is not in the draft vocabulary, d2t says the opposite", Refusal(t2d));
        string floats = Edited(dir, "floats", e => e[e.FindIndex(t => t.Name == "d2t")] = SafeTensorsWriter.F32("d2t", [60], new float[60]));
        Assert.Contains("tensor 'd2t' is F32; an index table is I64 or BOOL", Refusal(floats));
        string indexAsWeight = Edited(dir, "index-weight", e => e[e.FindIndex(t => t.Name == "norm.weight")] = Longs("norm.weight", new long[64]));
        Assert.Contains("tensor 'norm.weight' is I64: a weight is stored in a float or block type", Refusal(indexAsWeight));
        string deep = Edited(dir, "deep", _ => { }, c => c.Replace("\"draft_vocab_size\": 60", "\"draft_vocab_size\": 60, \"eagle_aux_hidden_state_layer_ids\": [1, 4, 8]"));
        Assert.Contains("the draft reads base layers 1, 4, 8; the base has layers 0..7", Refusal(deep));
        string two = Edited(dir, "two", _ => { }, c => c.Replace("\"draft_vocab_size\": 60", "\"draft_vocab_size\": 60, \"eagle_aux_hidden_state_layer_ids\": [1, 4]"));
        Assert.Contains("fc.weight reads 3 layers' states, but the config names 2 base layers (1, 4)", Refusal(two));
        using var b = TestModels.Load(Fx.Base);
        var e = Assert.Throws<ModelFormatException>(() => Eagle3Checkpoint.Import(Fx.Checkpoint("eagle3-st"), b, dir["shallow"]));
        Assert.Contains("the draft reads base layers 1, 4, 7; the base has layers 0..1", e.Message);
    }
}
