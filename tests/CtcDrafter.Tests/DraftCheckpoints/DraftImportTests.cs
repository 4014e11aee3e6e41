using CtcDrafter.Drafters;
using CtcDrafter.Model;
using CtcDrafter.Speculative;
using CtcDrafter.Tests.Cli;
using CtcDrafter.Tests.Model;

namespace CtcDrafter.Tests.DraftCheckpoints;

/// <summary>
/// <c>convert draft --from</c> on checkpoints written by PyTorch itself: the imported draft gives the next-token
/// distributions of an independent PyTorch implementation of the module (within 1e-4 in f32), and broken or foreign
/// checkpoints are refused with one line naming the problem.
/// </summary>
public class DraftImportTests
{
    static DraftFixtures Fx => DraftFixtures.Get;

    static DraftConfig Import(string layout, string checkpoint, string baseFolder, string output)
    {
        using var b = TestModels.Load(baseFolder);
        return layout == "medusa" ? MedusaCheckpoint.Import(checkpoint, b, output) : EagleCheckpoint.Import(checkpoint, b, ctc: layout == "ctc-drafter", output);
    }

    /// <summary>The whole distribution from a top-k over every class.</summary>
    static float[] Dense(DepthDistribution d, int classes)
    {
        var p = new float[classes];
        for (int i = 0; i < d.Tokens.Length; i++) p[d.Tokens[i]] = d.Probs[i];
        return p;
    }

    [TorchTheory]
    [InlineData("eagle", "eagle-bin", "eagle")]       // torch.save, float32
    [InlineData("eagle", "eagle-bin-shards", "eagle")] // two torch.save shards and their index
    [InlineData("eagle", "eagle-st", "eagle-st")]     // safetensors, float16
    [InlineData("eagle", "eagle-st-shards", "eagle-st")] // two safetensors shards and their index
    [InlineData("ctc-drafter", "ctc-bin", "ctc")]     // torch.save, bfloat16; blank = token 0
    [InlineData("eagle", "eagle-qwen2-st", "eagle-qwen2")] // a Qwen2 draft layer: q/k/v biases
    public void ImportedChainDraftGivesTheCheckpointsDistributions(string layout, string checkpoint, string expected)
    {
        using var dir = new TempDir();
        DraftConfig c = Import(layout, Fx.Checkpoint(checkpoint), Fx.Base, dir["draft"]);
        Assert.Equal(layout == "ctc-drafter" ? BlankMode.Unk : BlankMode.None, c.Blank);
        Assert.Equal(checkpoint.Contains("qwen2"), c.QkvBias);
        Assert.Equal((80, 2, 5000f), (c.IntermediateSize, c.NumKvHeads, c.RopeTheta));
        using var b = TestModels.Load(Fx.Base);
        var drafter = (FeatureTreeDrafter)DrafterFactory.Create(layout == "eagle" ? "eagle" : "ctc-nocollapse", b, dir["draft"]);
        drafter.Observe(Fx.Tokens, Fx.Features);
        float[][] want = Fx.Distributions(expected);
        var got = drafter.Chain(Fx.Root, want.Length, b.Config.VocabSize);
        for (int d = 0; d < want.Length; d++)
            Assert.True(TestModels.MaxAbsDiff(Dense(got[d], b.Config.VocabSize), want[d]) < 1e-4, $"depth {d + 1}: {TestModels.MaxAbsDiff(Dense(got[d], b.Config.VocabSize), want[d])}");
    }

    [TorchTheory]
    [InlineData("medusa-pt", "medusa", 1)]   // torch.save, float16, 5 heads where config.json says 2
    [InlineData("medusa-st", "medusa", 1)]
    [InlineData("medusa2-pt", "medusa2", 2)] // two ResBlocks per head, one storage shared by both (Medusa repeats one block)
    [InlineData("medusa2-st", "medusa2", 2)]
    public void ImportedMedusaHeadsGiveTheCheckpointsDistributions(string checkpoint, string expected, int layers)
    {
        using var dir = new TempDir();
        float[][] want = Fx.Distributions(expected);
        DraftConfig c = Import("medusa", Fx.Checkpoint(checkpoint), Fx.Base, dir["draft"]);
        Assert.Equal((want.Length, layers), (c.MedusaHeads, c.MedusaLayers));
        using var b = TestModels.Load(Fx.Base);
        var drafter = (MedusaDrafter)DrafterFactory.Create("medusa", b, dir["draft"]);
        drafter.Observe(Fx.Tokens, Fx.Features);
        var got = drafter.Heads(want.Length, b.Config.VocabSize);
        for (int i = 0; i < want.Length; i++)
            Assert.True(TestModels.MaxAbsDiff(Dense(got[i], b.Config.VocabSize), want[i]) < 1e-4, $"head {i}");
    }

    /// <summary>An import exported again is the official file it came from, tensor for tensor.</summary>
    [TorchTheory]
    [InlineData("eagle", "eagle-st", "model.safetensors")]
    [InlineData("eagle", "eagle-qwen2-st", "model.safetensors")]
    [InlineData("medusa", "medusa2-st", "medusa_lm_head.safetensors")]
    public void ExportOfAnImportIsTheOfficialFile(string layout, string checkpoint, string file)
    {
        using var dir = new TempDir();
        Import(layout, Fx.Checkpoint(checkpoint), Fx.Base, dir["draft"]);
        using (var b = TestModels.Load(Fx.Base))
            if (layout == "medusa") MedusaCheckpoint.Export(dir["draft"], b, dir["out"]);
            else EagleCheckpoint.Export(dir["draft"], b, dir["out"]);
        using var original = new SafeTensorsFile(Path.Combine(Fx.Checkpoint(checkpoint), file));
        using var exported = new SafeTensorsFile(Path.Combine(dir["out"], file));
        // The embedding is written from the base (in the draft's float type), so it is the base's rounded, not the file's.
        var names = original.Tensors.Keys.Where(n => n != "embed_tokens.weight").Order().ToArray();
        Assert.Equal(names, exported.Tensors.Keys.Where(n => n != "embed_tokens.weight").Order().ToArray());
        foreach (string n in names) Assert.True(DraftRoundTripTests.SameBytes(original.Tensors[n], exported.Tensors[n]), n);
    }

    static string Refusal(string layout, string checkpoint, string? baseFolder = null)
    {
        using var dir = new TempDir();
        var e = Assert.Throws<ModelFormatException>(() => Import(layout, checkpoint, baseFolder ?? Fx.Base, dir["draft"]));
        Assert.False(Directory.Exists(dir["draft"]), "nothing is written for a refused checkpoint");
        return e.Message;
    }

    [TorchFact]
    public void TruncatedZipIsRefused()
    {
        using var dir = new TempDir();
        byte[] bin = File.ReadAllBytes(Path.Combine(Fx.Checkpoint("eagle-bin"), "pytorch_model.bin"));
        foreach (int keep in new[] { bin.Length / 2, bin.Length - 30, 100 })
        {
            Directory.CreateDirectory(dir[$"cut{keep}"]);
            File.Copy(Path.Combine(Fx.Checkpoint("eagle-bin"), "config.json"), Path.Combine(dir[$"cut{keep}"], "config.json"));
            File.WriteAllBytes(Path.Combine(dir[$"cut{keep}"], "pytorch_model.bin"), bin[..keep]);
            Assert.Contains("truncated or corrupt", Refusal("eagle", dir[$"cut{keep}"]));
        }
        var r = CliRunner.Run("convert", "draft", "--from", "eagle", "--checkpoint", dir[$"cut{bin.Length / 2}"], "--base", Fx.Base, "--out", dir["x"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Matches(@"^error: .*pytorch_model\.bin: not a readable zip archive, truncated or corrupt .*\n$", r.Stderr);
    }

    [TorchFact]
    public void DraftOfAnotherBaseIsRefused()
    {
        Assert.Contains("config.json: hidden size 64 / vocabulary 97 differ from the base's 32 / 97", Refusal("eagle", Fx.Checkpoint("eagle-bin"), Fx.OtherBase));
        Assert.Contains("tensor '0.0.linear.weight' has shape [64, 64], expected [32, 32] (the base's hidden size 32", Refusal("medusa", Fx.Checkpoint("medusa-pt"), Fx.OtherBase));
    }

    /// <summary>Copies the eagle-st checkpoint with its tensors changed by <paramref name="edit"/>.</summary>
    static string Edited(TempDir dir, string name, Action<List<SafeTensorsWriter.Entry>> edit)
    {
        string folder = dir[name];
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(Fx.Checkpoint("eagle-st"), "config.json"), Path.Combine(folder, "config.json"));
        using (var store = new SafeTensorsStore(Fx.Checkpoint("eagle-st")))
        {
            var entries = store.All.Select(t => DraftCheckpoint.Copy(t, t.Name)).ToList();
            edit(entries);
            SafeTensorsWriter.Write(Path.Combine(folder, "model.safetensors"), entries);
        }
        return folder;
    }

    [TorchFact]
    public void WrongShapesMissingAndForeignTensorsAreRefusedByName()
    {
        using var dir = new TempDir();
        string shape = Edited(dir, "shape", e => e[e.FindIndex(t => t.Name == "layers.0.mlp.up_proj.weight")] =
            SafeTensorsWriter.F32("layers.0.mlp.up_proj.weight", [80, 32], new float[80 * 32]));
        Assert.Contains("tensor 'layers.0.mlp.up_proj.weight' has shape [80, 32], expected [80, 64]", Refusal("eagle", shape));
        string missing = Edited(dir, "missing", e => e.RemoveAll(t => t.Name == "fc.bias"));
        Assert.Contains("tensor 'fc.bias' is missing", Refusal("eagle", missing));
        string extra = Edited(dir, "extra", e => e.Add(SafeTensorsWriter.F32("layers.0.input_layernorm.weight", [64], new float[64])));
        Assert.Contains("tensor 'layers.0.input_layernorm.weight' is not part of the model", Refusal("eagle", extra));
        string embedding = Edited(dir, "embedding", e => e[e.FindIndex(t => t.Name == "embed_tokens.weight")] =
            SafeTensorsWriter.F32("embed_tokens.weight", [97, 64], Enumerable.Repeat(0.5f, 97 * 64).ToArray()));
        Assert.Contains("tensor 'embed_tokens.weight' is not the base model's embedding", Refusal("eagle", embedding));
    }
}
