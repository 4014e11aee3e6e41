using System.Text.Json.Nodes;
using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Tests.Cli;
using CtcDrafter.Tests.Model;

namespace CtcDrafter.Tests.DraftCheckpoints;

/// <summary>
/// The committed drafts of ref-s and ref-m exported in the official layouts (<c>convert draft --to</c>) and
/// imported back (<c>--from</c>): the same tensors byte for byte, the same config (ref-m's carry a fitted score
/// temperature), and the same drafting (outputs and tau at a fixed tree).
/// </summary>
public class DraftRoundTripTests
{
    static string Folder(params string[] parts) => Path.Combine([TestData.RepoRoot, "models", "ref-s", .. parts]);

    [Theory]
    [InlineData("ref-s", "eagle", "eagle", "eagle")]
    [InlineData("ref-s", "ctc", "eagle", "ctc-drafter")] // its own blank row rides in blank_head.safetensors
    [InlineData("ref-s", "medusa", "medusa", "medusa")]
    [InlineData("ref-m", "eagle", "eagle", "eagle")]
    [InlineData("ref-m", "ctc", "eagle", "ctc-drafter")]
    [InlineData("ref-m", "medusa", "medusa", "medusa")]
    [InlineData("ref-m", "eagle3", "eagle3", "eagle3")]
    public void ExportedDraftImportsBackIdentical(string model, string kind, string to, string from)
    {
        using var dir = new TempDir();
        string baseFolder = Path.Combine(TestData.RepoRoot, "models", model), native = Path.Combine(baseFolder, $"draft-{kind}");
        if (model == "ref-m") Assert.NotNull(DraftConfig.Load(native).ScoreTemperature);
        var export = CliRunner.Run("convert", "draft", "--to", to, "--draft", native, "--base", baseFolder, "--out", dir["official"]);
        Assert.True(export.ExitCode == 0, export.Stderr);
        Assert.True(File.Exists(Path.Combine(dir["official"], to == "medusa" ? "medusa_lm_head.safetensors" : "model.safetensors")));
        using (var b = LlamaModel.Load(baseFolder))
            if (from == "medusa") MedusaCheckpoint.Import(dir["official"], b, dir["back"]);
            else if (from == "eagle3") Eagle3Checkpoint.Import(dir["official"], b, dir["back"]);
            else EagleCheckpoint.Import(dir["official"], b, ctc: from == "ctc-drafter", dir["back"]);

        JsonObject Config(string folder)
        {
            JsonObject o = DraftConfig.Load(folder).ToJson();
            o.Remove("training");
            return o;
        }
        Assert.Equal(Config(native).ToJsonString(), Config(dir["back"]).ToJsonString());
        using (var a = TensorStore.Open(native))
        using (var c = TensorStore.Open(dir["back"]))
        {
            Assert.Equal(a.All.Select(t => t.Name).Order(), c.All.Select(t => t.Name).Order());
            foreach (RawTensor t in a.All) Assert.True(SameBytes(t, c.All.Single(u => u.Name == t.Name)), t.Name);
        }

        using var m = LlamaModel.Load(baseFolder);
        int[] prompt = [.. m.Tokenizer!.Encode("Once upon a time, there was a little dog named Max.", addBos: true)];
        var request = new GenerationRequest(prompt, 48, SamplingOptions.Greedy);
        GenerationResult Run(string folder) => new Generator(m, DrafterFactory.Create(kind, m, folder), maxTreeNodes: 16).Generate(request);
        GenerationResult before = Run(native), after = Run(dir["back"]);
        Assert.Equal(before.Tokens, after.Tokens);
        Assert.Equal(before.Stats.Steps, after.Stats.Steps);
    }

    internal static unsafe bool SameBytes(RawTensor a, RawTensor b) => a.DType == b.DType && a.Shape.SequenceEqual(b.Shape)
        && new ReadOnlySpan<byte>(a.Data, (int)a.ByteLength).SequenceEqual(new ReadOnlySpan<byte>(b.Data, (int)b.ByteLength));

    [Theory]
    [InlineData("-1", "score_temperature -1 must be a positive number")]
    [InlineData("\"hot\"", "field 'score_temperature' must be a number")]
    public void ABadScoreTemperatureIsRefusedOnImport(string value, string message)
    {
        using var dir = new TempDir();
        var export = CliRunner.Run("convert", "draft", "--to", "eagle", "--draft", Folder("draft-eagle"), "--base", Folder(), "--out", dir["official"]);
        Assert.True(export.ExitCode == 0, export.Stderr);
        string config = Path.Combine(dir["official"], "config.json");
        JsonObject o = JsonNode.Parse(File.ReadAllText(config))!.AsObject();
        o["score_temperature"] = JsonNode.Parse(value);
        File.WriteAllText(config, o.ToJsonString());
        var r = CliRunner.Run("convert", "draft", "--from", "eagle", "--checkpoint", dir["official"], "--base", Folder(), "--out", dir["back"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
        Assert.False(Directory.Exists(dir["back"]));
    }

    [Fact]
    public void ExportChecksTheBaseAndTheLayout()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("convert", "draft", "--to", "eagle", "--draft", Folder("draft-eagle"), "--base", Path.Combine(TestData.RepoRoot, "models", "ref-m"), "--out", dir["x"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Matches(@"^error: .*config\.json: this draft was trained for base model 'ref-s' .*\n$", r.Stderr);
        r = CliRunner.Run("convert", "draft", "--to", "medusa", "--draft", Folder("draft-eagle"), "--base", Folder(), "--out", dir["x"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("draft kind eagle: export it with --to eagle", r.Stderr);
        r = CliRunner.Run("convert", "draft", "--from", "eagle", "--to", "eagle", "--base", Folder(), "--out", dir["x"]);
        Assert.Equal("error: give one of --from LAYOUT (import) and --to LAYOUT (export)\n", r.Stderr);
        Assert.False(Directory.Exists(dir["x"]));
    }
}
