using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using CtcDrafter.Model;
using static CtcDrafter.Model.JsonFields;

namespace CtcDrafter.Drafters;

/// <summary>
/// The official EAGLE-3 draft layout (EAGLE's own code, SGLang and vLLM load it): <c>config.json</c> (a LLaMA config of
/// one layer, <c>LlamaForCausalLMEagle3</c>, with <c>draft_vocab_size</c>) and <c>model.safetensors</c> or
/// <c>pytorch_model.bin</c> with <c>fc.weight</c> [H, 3H], <c>midlayer.*</c> (input_layernorm, hidden_norm, q/k/v over 2H,
/// o, post_attention_layernorm, MLP), <c>norm.weight</c>, <c>lm_head.weight</c> [draft vocab, H], <c>d2t</c> (int64
/// offsets: draft id d is token d + d2t[d]) and <c>t2d</c> (bool over the base vocabulary: whether a token is in the
/// draft vocabulary). A native eagle3 draft keeps the same tensor names, so import and export copy them; t2d is
/// checked on import and written from d2t on export.
/// The base layers: vLLM reads a top-level <c>eagle_aux_hidden_state_layer_ids</c> as the layers whose inputs it
/// captures; SGLang reads <c>eagle_config.eagle_aux_hidden_state_layer_ids</c> as layers whose outputs it captures
/// (the input of the next); with neither, both take the inputs of layers 2, L / 2 and L - 3, as EAGLE-3's code does.
/// </summary>
internal static class Eagle3Checkpoint
{
    const string LayerIds = "eagle_aux_hidden_state_layer_ids", NestedConfig = "eagle_config", Embedding = "embed_tokens.weight";

    /// <summary>The module's tensors and shapes (d2t and t2d aside), under the names both layouts use.</summary>
    static (string Name, int[] Shape)[] Tensors(DraftConfig c, ModelConfig lc)
    {
        int h = c.HiddenSize, f = lc.IntermediateSize;
        const string p = Eagle3Draft.Prefix;
        return
        [
            ("fc.weight", [h, c.FeatureLayers.Length * h]),
            (p + "input_layernorm.weight", [h]), (p + "hidden_norm.weight", [h]),
            (p + "self_attn.q_proj.weight", [lc.QDim, 2 * h]), (p + "self_attn.k_proj.weight", [lc.KvDim, 2 * h]),
            (p + "self_attn.v_proj.weight", [lc.KvDim, 2 * h]), (p + "self_attn.o_proj.weight", [h, lc.QDim]),
            (p + "post_attention_layernorm.weight", [h]),
            (p + "mlp.gate_proj.weight", [f, h]), (p + "mlp.up_proj.weight", [f, h]), (p + "mlp.down_proj.weight", [h, f]),
            ("norm.weight", [h]), ("lm_head.weight", [c.DraftVocabSize, h]),
        ];
    }

    /// <summary>Writes the EAGLE-3 checkpoint at <paramref name="checkpoint"/> as a draft folder bound to <paramref name="baseModel"/>.</summary>
    public static DraftConfig Import(string checkpoint, LlamaModel baseModel, string output)
    {
        var (folder, store) = DraftCheckpoint.Open(checkpoint, "model.safetensors", "pytorch_model.bin");
        using (store)
        {
            string configPath = Path.Combine(folder, "config.json");
            DraftConfig config = ReadConfig(configPath, baseModel);
            ModelConfig lc = config.LayerConfig(baseModel.Config);
            string why = $"{configPath} and the base's hidden size {config.HiddenSize}";
            if (store.ShapeOf("fc.weight") is [int rows, int cols] && rows == config.HiddenSize && cols != config.FeatureLayers.Length * config.HiddenSize)
                throw new ModelFormatException(store.Source, $"fc.weight reads {cols / (double)rows:0.##} layers' states, but the config names {config.FeatureLayers.Length} base layers ({string.Join(", ", config.FeatureLayers)})");
            var entries = Tensors(config, lc).Select(t => DraftCheckpoint.Copy(DraftCheckpoint.Get(store, t.Name, why, t.Shape), t.Name)).ToList();
            long[] d2t = store.GetIndices("d2t", config.DraftVocabSize);
            int[] ids = Eagle3Draft.BaseIds(d2t, config.VocabSize, store.Source);
            if (store.Contains("t2d")) CheckT2d(store.GetIndices("t2d", config.VocabSize), ids, store.Source);
            entries.Add(Indices("d2t", d2t));
            if (store.Contains(Embedding))
                DraftCheckpoint.CheckEmbedding(DraftCheckpoint.Get(store, Embedding, "the base's vocabulary and hidden size", config.VocabSize, config.HiddenSize), baseModel, store.Source);
            store.CheckEveryTensorRead(name => name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal));
            config = config with { ScoreTemperature = DraftCheckpoint.ScoreTemperature(configPath), Training = new JsonObject { ["imported_from"] = "eagle3", ["checkpoint"] = Path.GetFullPath(store.Source) } };
            DraftWriter.Write(output, config, entries);
            return config;
        }
    }

    /// <summary>Writes the eagle3 draft folder <paramref name="draft"/> in the official layout.</summary>
    public static void Export(string draft, LlamaModel baseModel, string output)
    {
        DraftConfig d = DraftConfig.Load(draft);
        if (d.Kind == DraftKind.Eagle3Ctc)
            throw new ModelFormatException(draft, "draft kind eagle3-ctc: its blank row has no place in EAGLE-3's layout, which no EAGLE-3 loader would read");
        if (d.Kind != DraftKind.Eagle3) throw new ModelFormatException(draft, $"draft kind {d.Kind.Name()}: export it with --to {(d.Kind == DraftKind.Medusa ? "medusa" : "eagle")}");
        d.BaseModel.Check(BaseIdentity.Of(baseModel), Path.Combine(draft, "config.json"));
        ModelConfig lc = d.LayerConfig(baseModel.Config);
        using var store = TensorStore.Open(draft);
        var entries = Tensors(d, lc).Select(t => DraftCheckpoint.Copy(store.Get(t.Name, t.Shape), t.Name)).ToList();
        long[] d2t = store.GetIndices("d2t", d.DraftVocabSize);
        var t2d = new byte[d.VocabSize];
        foreach (int t in Eagle3Draft.BaseIds(d2t, d.VocabSize, store.Source)) t2d[t] = 1;
        entries.Add(Indices("d2t", d2t));
        entries.Add(new SafeTensorsWriter.Entry("t2d", TensorDType.BOOL, [d.VocabSize], t2d));
        store.CheckEveryTensorRead(_ => false);

        JsonObject config = (lc with { Architecture = "LlamaForCausalLM", TieWordEmbeddings = false, SlidingWindow = null }).ToJson();
        config["architectures"] = new JsonArray("LlamaForCausalLMEagle3");
        config["draft_vocab_size"] = d.DraftVocabSize;
        DraftCheckpoint.PutScoreTemperature(config, d);
        if (!d.FeatureLayers.SequenceEqual(BaseFeatures.Eagle3Default(baseModel.Config.NumLayers)))
        {
            config[LayerIds] = new JsonArray([.. d.FeatureLayers.Select(l => JsonValue.Create(l))]);
            config[NestedConfig] = new JsonObject { [LayerIds] = new JsonArray([.. d.FeatureLayers.Select(l => JsonValue.Create(l - 1))]) };
        }
        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        FolderWriter.Write(output, replace: true, tmp =>
        {
            SafeTensorsWriter.Write(Path.Combine(tmp, "model.safetensors"), entries, metadata);
            File.WriteAllText(Path.Combine(tmp, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        });
    }

    /// <summary>The draft's config from an EAGLE-3 <c>config.json</c>, checked against the base.</summary>
    static DraftConfig ReadConfig(string path, LlamaModel baseModel)
    {
        if (!File.Exists(path)) throw new ModelFormatException(path, "file not found");
        ModelConfig b = baseModel.Config;
        try
        {
            if (JsonNode.Parse(File.ReadAllText(path)) is not JsonObject o) throw new ModelFormatException(path, "expected a JSON object");
            int hidden = RequiredInt(o, "hidden_size"), vocab = RequiredInt(o, "vocab_size"), heads = RequiredInt(o, "num_attention_heads");
            int layers = Int(o, "num_hidden_layers") ?? 1;
            string? problem = layers != 1 ? $"num_hidden_layers is {layers}; an EAGLE-3 draft has one layer"
                : hidden != b.HiddenSize || vocab != b.VocabSize ? $"hidden size {hidden} / vocabulary {vocab} differ from the base's {b.HiddenSize} / {b.VocabSize}"
                : RopeScaling.Parse(o["rope_scaling"])?.ToJson().ToJsonString() != b.RopeScaling?.ToJson().ToJsonString()
                    ? "rope_scaling differs from the base's: the draft layer rotates as its base does" : null;
            if (problem is not null) throw new ModelFormatException(path, problem);
            int[] featureLayers = IntList(o, LayerIds)
                ?? (Object(o, NestedConfig) is { } nested && IntList(nested, LayerIds) is { } sglang ? sglang.Select(l => l + 1).ToArray() : null)
                ?? BaseFeatures.Eagle3Default(b.NumLayers);
            if (featureLayers.Length is 0 or > DraftConfig.MaxFeatureLayers || featureLayers.Any(l => l < 0 || l >= b.NumLayers))
                throw new ModelFormatException(path, $"the draft reads base layers {string.Join(", ", featureLayers)}; the base has layers 0..{b.NumLayers - 1}");
            return new DraftConfig
            {
                Kind = DraftKind.Eagle3, BaseModel = BaseIdentity.Of(baseModel), HiddenSize = hidden, VocabSize = vocab,
                IntermediateSize = RequiredInt(o, "intermediate_size"), NumHeads = heads, NumKvHeads = Int(o, "num_key_value_heads") ?? heads,
                HeadDim = Int(o, "head_dim") ?? hidden / heads,
                RmsNormEps = (float)(Number(o, "rms_norm_eps") ?? 1e-6), RopeTheta = (float)(Number(o, "rope_theta") ?? 10000),
                Blank = BlankMode.None, FeatureLayers = featureLayers, DraftVocabSize = Int(o, "draft_vocab_size") ?? vocab,
            };
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new ModelFormatException(path, $"malformed ({e.Message})");
        }
    }

    /// <summary>t2d must mark exactly the base tokens d2t maps to.</summary>
    static void CheckT2d(long[] t2d, int[] ids, string source)
    {
        var mapped = new bool[t2d.Length];
        foreach (int t in ids) mapped[t] = true;
        for (int t = 0; t < t2d.Length; t++)
            if ((t2d[t] != 0) != mapped[t])
                throw new ModelFormatException(source, $"t2d says token {t} is {(t2d[t] != 0 ? "" : "not ")}in the draft vocabulary, d2t says the opposite");
    }

    static SafeTensorsWriter.Entry Indices(string name, long[] values) =>
        new(name, TensorDType.I64, [values.Length], MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
}
