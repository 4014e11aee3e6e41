using System.Text;
using System.Text.Json.Nodes;
using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Tests.Model;

public class LoadingTests
{
    static readonly int[] Prompt = [1, 5, 9, 33, 60, 2, 17, 96, 40, 8];

    [Theory]
    [InlineData("F32", WeightFormat.F32, 1e-4)]
    [InlineData("F32", WeightFormat.BF16, 0.05)]
    [InlineData("F32", WeightFormat.Q8, 0.05)]
    [InlineData("BF16", WeightFormat.F32, 1e-4)]
    [InlineData("BF16", WeightFormat.BF16, 1e-4)]
    [InlineData("BF16", WeightFormat.Q8, 0.05)]
    [InlineData("F16", WeightFormat.F32, 1e-4)]
    [InlineData("F16", WeightFormat.BF16, 0.05)]
    public void EveryFileDtypeLoadsInEveryRuntimeFormat(string fileDtype, WeightFormat format, double tolerance)
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, TestModels.Small(), fileDtype);
        using var m = TestModels.Load(folder, format);
        double[] reference = new ReferenceLlama(folder).Logits(Prompt)[^1];
        float[] engine = TestModels.PrefillLogits(m, Prompt)[^1];
        double range = reference.Max() - reference.Min();
        Assert.True(TestModels.MaxAbsDiff(engine, reference) <= tolerance * Math.Max(1, range),
            $"{fileDtype} -> {format}: {TestModels.MaxAbsDiff(engine, reference)} (logit range {range})");
    }

    [Fact]
    public void ShardedFolderGivesTheSameLogitsAsOneFile()
    {
        using var dir = new TempDir();
        string one = TestModels.Write(dir, TestModels.Small(), name: "one");
        string sharded = TestModels.Write(dir, TestModels.Small(), shards: 3, name: "sharded");
        Assert.True(File.Exists(Path.Combine(sharded, "model.safetensors.index.json")));
        using var a = TestModels.Load(one);
        using var b = TestModels.Load(sharded);
        Assert.Equal(TestModels.PrefillLogits(a, Prompt)[^1], TestModels.PrefillLogits(b, Prompt)[^1]);
    }

    [Fact]
    public void F32FilesAreMappedNotCopied()
    {
        using var dir = new TempDir();
        var c = RandomModel.Config(hidden: 256, ffn: 512, layers: 4, heads: 4, kvHeads: 4, vocab: 512);
        string folder = TestModels.Write(dir, c);
        GC.Collect();
        long managedBefore = GC.GetTotalMemory(true);
        using var m = TestModels.Load(folder);
        long managedAfter = GC.GetTotalMemory(true);
        Assert.True(m.RuntimeWeightBytes > 4_000_000);
        Assert.True(managedAfter - managedBefore < m.RuntimeWeightBytes / 10,
            $"loading allocated {managedAfter - managedBefore} managed bytes for {m.RuntimeWeightBytes} bytes of weights");
    }

    [Fact]
    public void EosTokenIdMayBeAList()
    {
        var o = (JsonObject)TestModels.Small().ToJson();
        o["eos_token_id"] = new JsonArray(2, 7);
        Assert.Equal([2, 7], ModelConfig.FromJson(o).EosTokenIds);
    }

    [Fact]
    public void GenerationConfigOverridesEosAndSupplyDefaults()
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, TestModels.Small());
        File.WriteAllText(Path.Combine(folder, "generation_config.json"),
            """{"do_sample": true, "temperature": 0.7, "top_p": 0.9, "eos_token_id": [2, 5]}""");
        using var m = TestModels.Load(folder);
        Assert.Equal(0.7f, m.Defaults.Temperature, 5);
        Assert.Equal(0.9f, m.Defaults.TopP, 5);
        Assert.Equal([2, 5], m.Config.EosTokenIds);
    }

    // ---- bad input: one clear ModelFormatException naming the file and the problem ----

    static ModelFormatException LoadFails(string folder) =>
        Assert.Throws<ModelFormatException>(() => { using var m = TestModels.Load(folder); });

    [Fact]
    public void TruncatedSafetensorsIsRefused()
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, TestModels.Small());
        string file = Path.Combine(folder, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(file);
        File.WriteAllBytes(file, bytes[..(bytes.Length / 2)]);
        var e = LoadFails(folder);
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("outside", e.Message);
    }

    [Fact]
    public void GarbageHeaderIsRefused()
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, TestModels.Small());
        File.WriteAllBytes(Path.Combine(folder, "model.safetensors"), Encoding.ASCII.GetBytes("this is not a safetensors file at all"));
        Assert.Contains("header length", LoadFails(folder).Message);
        File.WriteAllBytes(Path.Combine(folder, "model.safetensors"), [1, 2, 3]);
        Assert.Contains("truncated", LoadFails(folder).Message);
    }

    /// <summary>Rewrites the JSON header of a single-file folder.</summary>
    static void EditHeader(string folder, Func<string, string> edit)
    {
        string file = Path.Combine(folder, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(file);
        int n = (int)BitConverter.ToUInt64(bytes, 0);
        string header = Encoding.UTF8.GetString(bytes, 8, n);
        byte[] edited = Encoding.UTF8.GetBytes(edit(header).PadRight(n));
        Assert.Equal(n, edited.Length);
        edited.CopyTo(bytes, 8);
        File.WriteAllBytes(file, bytes);
    }

    /// <summary>A safetensors file with the given header entries (JSON object members) and <paramref name="dataBytes"/> zero bytes of data.</summary>
    static string CraftSafeTensors(TempDir dir, string entries, int dataBytes)
    {
        byte[] header = Encoding.UTF8.GetBytes("{" + entries + "}");
        string file = dir["crafted.safetensors"];
        File.WriteAllBytes(file, [.. BitConverter.GetBytes((ulong)header.Length), .. header, .. new byte[dataBytes]]);
        return file;
    }

    [Theory]
    [InlineData("\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}", "' overlap in the data section")]
    [InlineData("\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"BF16\",\"shape\":[8],\"data_offsets\":[0,16]}", "' overlap in the data section")]
    [InlineData("\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}", "tensor 'a' is listed twice")]
    [InlineData("\"w\":{\"dtype\":\"F32\",\"shape\":[65536,65536,65536,65536],\"data_offsets\":[0,0]}", "a size beyond 2^62 bytes")]
    [InlineData("\"w\":{\"dtype\":\"F32\",\"shape\":[4,-4],\"data_offsets\":[0,0]}", "a negative dimension")]
    [InlineData("\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[12,28]}", "outside the 24 data bytes")]
    [InlineData("\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}", "= 12 bytes but its offsets span 16")]
    public void TensorRangesMustBeDisjointInsideTheDataAndMatchTheirShape(string entries, string expected)
    {
        using var dir = new TempDir();
        string file = CraftSafeTensors(dir, entries, 24);
        var e = Assert.Throws<ModelFormatException>(() => new SafeTensorsFile(file).Dispose());
        Assert.True(e.Message.Contains(expected) && e.Message.Contains("crafted.safetensors"), e.Message);
    }

    [Fact]
    public void EmptyTensorsMayShareAnOffset()
    {
        using var dir = new TempDir();
        string file = CraftSafeTensors(dir, "\"a\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[0,0]},\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}", 16);
        using var f = new SafeTensorsFile(file);
        Assert.Equal(2, f.Tensors.Count);
    }

    [Fact]
    public void HeaderLyingAboutShapeIsRefused()
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, TestModels.Small());
        EditHeader(folder, h => h.Replace("\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[64]", "\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[65]"));
        Assert.Contains("model.norm.weight", LoadFails(folder).Message);
    }

    [Fact]
    public void UnsupportedDtypeIsRefused()
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, TestModels.Small());
        EditHeader(folder, h => h.Replace("\"model.norm.weight\":{\"dtype\":\"F32\"", "\"model.norm.weight\":{\"dtype\":\"I32\""));
        Assert.Contains("unsupported dtype I32", LoadFails(folder).Message);
    }

    [Fact]
    public void ShapeDisagreeingWithConfigIsRefused()
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, TestModels.Small());
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!.AsObject();
        cfg["intermediate_size"] = 100;
        File.WriteAllText(Path.Combine(folder, "config.json"), cfg.ToJsonString());
        var e = LoadFails(folder);
        Assert.Contains("gate_proj", e.Message);
        Assert.Contains("expected [100, 64]", e.Message);
    }

    [Fact]
    public void MissingTensorIsRefused()
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, TestModels.Small());
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!.AsObject();
        cfg["num_hidden_layers"] = 3;
        File.WriteAllText(Path.Combine(folder, "config.json"), cfg.ToJsonString());
        Assert.Contains("'model.layers.2.input_layernorm.weight' is missing", LoadFails(folder).Message);
    }

    [Theory]
    [InlineData("hidden_size", null, "required field 'hidden_size' is missing")]
    [InlineData("architectures", "[\"GPT2LMHeadModel\"]", "unsupported architecture 'GPT2LMHeadModel'")]
    [InlineData("num_key_value_heads", "3", "multiple of num_key_value_heads")]
    [InlineData("hidden_size", "\"big\"", "must be an integer")]
    [InlineData("attention_bias", "true", "attention_bias is true")]
    [InlineData("attention_bias", "\"no\"", "field 'attention_bias' must be true or false")]
    [InlineData("tie_word_embeddings", "\"yes\"", "field 'tie_word_embeddings' must be true or false")]
    [InlineData("architectures", "[123]", "field 'architectures' must be a list of names")]
    [InlineData("architectures", "[null]", "field 'architectures' must be a list of names")]
    [InlineData("architectures", "\"LlamaForCausalLM\"", "field 'architectures' must be a list of names")]
    [InlineData("model_type", "7", "field 'model_type' must be a string")]
    [InlineData("eos_token_id", "\"2\"", "field 'eos_token_id' must be a token id")]
    [InlineData("eos_token_id", "[2, null]", "field 'eos_token_id' must be a token id")]
    [InlineData("hidden_act", "1", "field 'hidden_act' must be a string")]
    [InlineData("sliding_window", "-1", "sliding_window must be positive or null")]
    [InlineData("max_position_embeddings", "1000000000", "beyond the engine's limit")]
    [InlineData("max_position_embeddings", "1e9", "field 'max_position_embeddings' must be an integer")]
    [InlineData("mlp_bias", "true", "mlp_bias is true")]
    public void BadConfigIsRefused(string field, string? value, string expected)
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, TestModels.Small());
        string path = Path.Combine(folder, "config.json");
        var cfg = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        if (value is null) cfg.Remove(field); else cfg[field] = JsonNode.Parse(value);
        File.WriteAllText(path, cfg.ToJsonString());
        var e = LoadFails(folder);
        Assert.Contains("config.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    /// <summary>Rewrites a folder's model.safetensors in F32, each tensor's values passed through <paramref name="edit"/>, plus <paramref name="extra"/>.</summary>
    static void RewriteWeights(string folder, Action<string, float[]> edit, SafeTensorsWriter.Entry[]? extra = null)
    {
        string file = Path.Combine(folder, "model.safetensors");
        var entries = new List<SafeTensorsWriter.Entry>();
        using (var f = new SafeTensorsFile(file))
            foreach (var (name, t) in f.Tensors)
            {
                var values = new float[t.Elements];
                CtcDrafter.Kernels.Conversions.ReadF32(t, 0, values);
                edit(name, values);
                entries.Add(SafeTensorsWriter.F32(name, t.Shape, values));
            }
        SafeTensorsWriter.Write(file, [.. entries, .. extra ?? []]);
    }

    [Theory]
    [InlineData("model.layers.0.self_attn.q_proj.bias")]
    [InlineData("model.layers.2.mlp.up_proj.weight")]
    [InlineData("some.unknown.tensor")]
    public void ATensorTheEngineWouldIgnoreIsRefused(string extra)
    {
        // A bias (or any tensor the config does not describe) left out would compute another model, silently.
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, TestModels.Small());
        RewriteWeights(folder, (_, _) => { }, [SafeTensorsWriter.F32(extra, [4], [1, 2, 3, 4])]);
        var e = LoadFails(folder);
        Assert.Contains($"tensor '{extra}' is not part of the model", e.Message);
        Assert.Contains("model.safetensors", e.Message);
    }

    [Theory]
    [InlineData("model.layers.0.mlp.down_proj.weight", float.NaN)]
    [InlineData("model.norm.weight", float.NaN)]
    [InlineData("model.layers.1.self_attn.q_proj.weight", float.PositiveInfinity)]
    public void NonFiniteWeightsStopGenerationWithAMessage(string tensor, float value)
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, TestModels.Small());
        RewriteWeights(folder, (name, values) =>
        {
            if (name == tensor) Array.Fill(values, value, 0, name.EndsWith("norm.weight") ? values.Length : 1);
        });
        using var m = TestModels.Load(folder);
        var e = Assert.Throws<InvalidDataException>(() =>
            new Generation.Generator(m).Generate(new Generation.GenerationRequest([1, 2, 3], 5, Sampling.SamplingOptions.Greedy)));
        Assert.Contains("non-finite logits", e.Message);
    }

    [Fact]
    public void MissingFolderAndFilesAreNamed()
    {
        using var dir = new TempDir();
        Assert.Contains("model folder not found", LoadFails(dir["nothing"]).Message);
        Directory.CreateDirectory(dir["empty"]);
        Assert.Contains("config.json: file not found", LoadFails(dir["empty"]).Message);
        File.WriteAllText(Path.Combine(dir["empty"], "config.json"), "{not json");
        Assert.Contains("not valid JSON", LoadFails(dir["empty"]).Message);
    }
}
