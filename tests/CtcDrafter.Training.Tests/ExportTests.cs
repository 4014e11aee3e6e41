using System.Text;
using System.Text.Json;
using CtcDrafter.Kernels;
using CtcDrafter.Training.Export;
using CtcDrafter.Training.Pretraining;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Tests;

public class ExportTests(CliFixture run) : IClassFixture<CliFixture>
{
    [Fact]
    public void PretrainExportsAHuggingFaceFolder()
    {
        Assert.True(run.Result.Exit == 0, run.Result.Error);
        Assert.Equal(
            ["MODEL_CARD.md", "config.json", "generation_config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json"],
            Directory.GetFiles(run.ModelFolder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(["checkpoint.bin", "model"],
            Directory.GetFileSystemEntries(run.Run).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Contains("step 6: held-out loss", run.Result.Out);
    }

    [Fact]
    public void ConfigJsonHasLlamaForCausalLMFields()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(run.ModelFolder, "config.json")));
        var c = json.RootElement;
        Assert.Equal("LlamaForCausalLM", c.GetProperty("architectures")[0].GetString());
        Assert.Equal("llama", c.GetProperty("model_type").GetString());
        Assert.Equal(32, c.GetProperty("hidden_size").GetInt32());
        Assert.Equal(64, c.GetProperty("intermediate_size").GetInt32());
        Assert.Equal(2, c.GetProperty("num_hidden_layers").GetInt32());
        Assert.Equal(4, c.GetProperty("num_attention_heads").GetInt32());
        Assert.Equal(2, c.GetProperty("num_key_value_heads").GetInt32());
        Assert.Equal(8, c.GetProperty("head_dim").GetInt32());
        Assert.Equal(4096, c.GetProperty("vocab_size").GetInt32());
        Assert.Equal(64, c.GetProperty("max_position_embeddings").GetInt32());
        Assert.Equal(1e-5, c.GetProperty("rms_norm_eps").GetDouble());
        Assert.Equal(10000.0, c.GetProperty("rope_theta").GetDouble());
        Assert.False(c.GetProperty("tie_word_embeddings").GetBoolean());
        Assert.Equal("silu", c.GetProperty("hidden_act").GetString());
        Assert.Equal(1, c.GetProperty("bos_token_id").GetInt32());
        Assert.Equal(2, c.GetProperty("eos_token_id").GetInt32());
        Assert.Equal("bfloat16", c.GetProperty("torch_dtype").GetString());

        using var tokenizerConfig = JsonDocument.Parse(File.ReadAllText(Path.Combine(run.ModelFolder, "tokenizer_config.json")));
        string template = tokenizerConfig.RootElement.GetProperty("chat_template").GetString()!;
        Assert.Contains("USER: ", template);
        Assert.Contains("ASSISTANT:", template);
        Assert.True(tokenizerConfig.RootElement.GetProperty("add_bos_token").GetBoolean());
        using var generation = JsonDocument.Parse(File.ReadAllText(Path.Combine(run.ModelFolder, "generation_config.json")));
        Assert.False(generation.RootElement.GetProperty("do_sample").GetBoolean());
    }

    [Fact]
    public void SafetensorsHoldHuggingFaceNamesInBFloat16RoundedFromTheCheckpoint()
    {
        byte[] file = File.ReadAllBytes(Path.Combine(run.ModelFolder, "model.safetensors"));
        long headerLength = BitConverter.ToInt64(file, 0);
        Assert.Equal(0, headerLength % 8);
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(file, 8, (int)headerLength).TrimEnd());
        var entries = header.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__").ToDictionary(p => p.Name, p => p.Value);
        Assert.Equal("pt", header.RootElement.GetProperty("__metadata__").GetProperty("format").GetString());
        Assert.Equal(3 + 2 * 9, entries.Count);
        Assert.Contains("lm_head.weight", entries.Keys);
        Assert.Contains("model.layers.1.mlp.down_proj.weight", entries.Keys);
        Assert.All(entries.Values, e => Assert.Equal("BF16", e.GetProperty("dtype").GetString()));
        Assert.Equal(file.Length - 8 - headerLength, entries.Values.Max(e => e.GetProperty("data_offsets")[1].GetInt64()));

        var (_, corpus) = TinyRun.Corpus(run["data-again"]);
        using var trainer = Pretrainer.Resume(run.Run, corpus, []);
        var weight = trainer.Model.state_dict()["model.layers.0.self_attn.k_proj.weight"];
        var entry = entries["model.layers.0.self_attn.k_proj.weight"];
        Assert.Equal(weight.shape, entry.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        long start = 8 + headerLength + entry.GetProperty("data_offsets")[0].GetInt64();
        var expected = weight.contiguous().data<float>().ToArray();
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal(Conversions.F32ToBf16(expected[i]), BitConverter.ToUInt16(file, (int)start + 2 * i));
    }

    [Fact]
    public void BFloat16RoundsToNearestEven()
    {
        Assert.Equal(0x3F80, Conversions.F32ToBf16(1.0f));
        Assert.Equal(0x3F80, Conversions.F32ToBf16(BitConverter.UInt32BitsToSingle(0x3F808000))); // tie, even below
        Assert.Equal(0x3F82, Conversions.F32ToBf16(BitConverter.UInt32BitsToSingle(0x3F818000))); // tie, even above
        Assert.Equal(0x3F81, Conversions.F32ToBf16(BitConverter.UInt32BitsToSingle(0x3F808001)));
        Assert.Equal(0xC000, Conversions.F32ToBf16(-2.0f));
    }

    [Fact]
    public void ModelCardReportsTrainingAndFiveSamples()
    {
        string card = File.ReadAllText(Path.Combine(run.ModelFolder, "MODEL_CARD.md"));
        Assert.Contains("| parameters |", card);
        Assert.Contains("| tokens seen | 768 ", card);
        Assert.Contains("held-out loss (step 6)", card);
        Assert.Contains("| gsm8k |", card);
        Assert.Contains("| initial weights | random |", card);
        Assert.Equal(5 * 2, card.Split("```").Length - 1);
    }

    /// <summary>
    /// `evaluate` measures any model folder as the run measures itself: a float32 export of the run gives the held-out
    /// loss per source that the run's last evaluation recorded (and its card reports).
    /// </summary>
    [Fact]
    public void EvaluateGivesTheRunsHeldOutLossPerSource()
    {
        Assert.True(run.Result.Exit == 0, run.Result.Error);
        string f32 = run["f32-export"];
        var export = CliRunner.Run("export", "--run", run.Run, "--out", f32, "--dtype", "Float32", "--data", run.Data, "--tokenizer", TestPaths.Tokenizer);
        Assert.True(export.Exit == 0, export.Error);
        var result = CliRunner.Run("evaluate", "--model", f32, "--config", run.Config, "--data", run.Data, "--tokenizer", TestPaths.Tokenizer);
        Assert.True(result.Exit == 0, result.Error);
        var measured = System.Text.RegularExpressions.Regex.Matches(result.Out, @"^  (\S+)\s+(\d+\.\d{4}) \(", System.Text.RegularExpressions.RegexOptions.Multiline)
            .ToDictionary(m => m.Groups[1].Value, m => double.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
        var last = Checkpoint.Read<TrainingState>(run.Run).State.Evaluations[^1];
        Assert.Equal(last.Sources!.Keys.Append("all").Order(), measured.Keys.Order());
        foreach (var (source, loss) in last.Sources)
            Assert.Equal(loss, measured[source], tolerance: 2e-4);
        Assert.Equal(last.Loss, measured["all"], tolerance: 2e-4);

        var bad = CliRunner.Run("evaluate", "--model", run["no-model"], "--config", run.Config, "--data", run.Data, "--tokenizer", TestPaths.Tokenizer);
        Assert.Equal(2, bad.Exit);
        Assert.Contains("no-model", bad.Error);
    }

    [Fact]
    public void ExportAgainReplacesTheFolderAndRemovesWhatAKilledExportLeft()
    {
        string stale = Path.Combine(run.Run, ".model.tmp-killed");
        Directory.CreateDirectory(stale);
        File.WriteAllText(Path.Combine(stale, "model.safetensors"), "half");
        var (exit, _, error) = CliRunner.Run("export", "--run", run.Run, "--data", run.Data, "--tokenizer", TestPaths.Tokenizer);
        Assert.True(exit == 0, error);
        Assert.Equal(["checkpoint.bin", "model"],
            Directory.GetFileSystemEntries(run.Run).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.True(File.Exists(Path.Combine(run.ModelFolder, "model.safetensors")));
    }

    [Fact]
    public void ExportedFolderLoadsBackWithTheRoundedWeights()
    {
        var (_, corpus) = TinyRun.Corpus(run["data-for-load"]);
        using var trainer = Pretrainer.Resume(run.Run, corpus, []);
        using var loaded = HuggingFaceLoader.Load(run.ModelFolder);
        Assert.Equal(trainer.Model.Config, loaded.Config);
        var original = trainer.Model.state_dict();
        foreach (var (name, tensor) in loaded.state_dict())
            Assert.True(tensor.eq(original[name].to(bfloat16).to(float32)).all().item<bool>(), name);
    }
}
