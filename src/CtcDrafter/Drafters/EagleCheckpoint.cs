using System.Text.Json;
using System.Text.Json.Nodes;
using CtcDrafter.Model;

namespace CtcDrafter.Drafters;

/// <summary>
/// The official EAGLE-1 draft layout, which CTC-drafter's checkpoints share: <c>config.json</c> (a LLaMA config of
/// one layer) and <c>model.safetensors</c> or <c>pytorch_model.bin</c> with <c>fc.weight</c> [H, 2H] over
/// [embedding; feature], <c>fc.bias</c>, <c>layers.0.*</c> without an input norm, no final norm, and the base's
/// embedding as <c>embed_tokens.weight</c>. That is the function <see cref="FeatureLayerDraft"/> computes, under
/// the same tensor names, so import and export copy the tensors unchanged; the embedding is checked against the
/// base on import and written from the base on export. A CTC-drafter checkpoint's blank is token 0; a draft of
/// this project with a blank of its own carries that row in <c>blank_head.safetensors</c> beside the model file.
/// The draft layer of a Qwen2 base (a Qwen2 config, as EAGLE's Qwen2 drafts have) adds the q/k/v biases.
/// </summary>
internal static class EagleCheckpoint
{
    public const string BlankFile = "blank_head.safetensors";
    const string Embedding = "embed_tokens.weight", BlankRow = "blank_head.weight";

    /// <summary>The draft layer's tensors and shapes, under the names both layouts use.</summary>
    static (string Name, int[] Shape)[] LayerTensors(ModelConfig lc)
    {
        int h = lc.HiddenSize, f = lc.IntermediateSize;
        const string p = "layers.0.";
        (string, int[])[] biases = lc.QkvBias
            ? [(p + "self_attn.q_proj.bias", [lc.QDim]), (p + "self_attn.k_proj.bias", [lc.KvDim]), (p + "self_attn.v_proj.bias", [lc.KvDim])]
            : [];
        return
        [
            .. biases,
            ("fc.weight", [h, 2 * h]), ("fc.bias", [h]),
            (p + "self_attn.q_proj.weight", [lc.QDim, h]), (p + "self_attn.k_proj.weight", [lc.KvDim, h]),
            (p + "self_attn.v_proj.weight", [lc.KvDim, h]), (p + "self_attn.o_proj.weight", [h, lc.QDim]),
            (p + "post_attention_layernorm.weight", [h]),
            (p + "mlp.gate_proj.weight", [f, h]), (p + "mlp.up_proj.weight", [f, h]), (p + "mlp.down_proj.weight", [h, f]),
        ];
    }

    /// <summary>Writes the checkpoint at <paramref name="checkpoint"/> as a draft folder bound to <paramref name="baseModel"/>.</summary>
    /// <param name="ctc">A CTC-drafter checkpoint (blank = token 0, or its own row when blank_head.safetensors is there).</param>
    public static DraftConfig Import(string checkpoint, LlamaModel baseModel, bool ctc, string output)
    {
        var (folder, store) = DraftCheckpoint.Open(checkpoint, "model.safetensors", "pytorch_model.bin");
        using (store)
        {
            string configPath = Path.Combine(folder, "config.json");
            ModelConfig c = ModelConfig.Load(configPath), b = baseModel.Config;
            string? problem = c.NumLayers != 1 ? $"num_hidden_layers is {c.NumLayers}; an EAGLE-1 draft has one layer"
                : c.HiddenSize != b.HiddenSize || c.VocabSize != b.VocabSize
                    ? $"hidden size {c.HiddenSize} / vocabulary {c.VocabSize} differ from the base's {b.HiddenSize} / {b.VocabSize}"
                : c.RopeScaling?.ToJson().ToJsonString() != b.RopeScaling?.ToJson().ToJsonString()
                    ? "rope_scaling differs from the base's: the draft layer rotates as its base does" : null;
            if (problem is not null) throw new ModelFormatException(configPath, problem);

            string why = $"{configPath} and the base's hidden size {b.HiddenSize}";
            var entries = LayerTensors(c).Select(t => DraftCheckpoint.Copy(DraftCheckpoint.Get(store, t.Name, why, t.Shape), t.Name)).ToList();
            if (store.Contains(Embedding))
                DraftCheckpoint.CheckEmbedding(DraftCheckpoint.Get(store, Embedding, "the base's vocabulary and hidden size", b.VocabSize, b.HiddenSize), baseModel, store.Source);
            store.CheckEveryTensorRead(name => name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal));

            string blankPath = Path.Combine(folder, BlankFile);
            bool ownBlank = ctc && File.Exists(blankPath);
            if (ownBlank)
            {
                using var blank = new SafeTensorsStore(folder, blankPath);
                entries.Add(DraftCheckpoint.Copy(DraftCheckpoint.Get(blank, BlankRow, "one row of the hidden size", 1, b.HiddenSize), BlankRow));
                blank.CheckEveryTensorRead(_ => false);
            }
            var config = new DraftConfig
            {
                Kind = ctc ? DraftKind.Ctc : DraftKind.Eagle, BaseModel = BaseIdentity.Of(baseModel),
                HiddenSize = c.HiddenSize, VocabSize = c.VocabSize, IntermediateSize = c.IntermediateSize,
                NumHeads = c.NumHeads, NumKvHeads = c.NumKvHeads, HeadDim = c.HeadDim, RmsNormEps = c.RmsNormEps, RopeTheta = c.RopeTheta,
                QkvBias = c.QkvBias,
                Blank = !ctc ? BlankMode.None : ownBlank ? BlankMode.Own : BlankMode.Unk,
                ScoreTemperature = DraftCheckpoint.ScoreTemperature(configPath),
                Training = new JsonObject { ["imported_from"] = ctc ? "ctc-drafter" : "eagle", ["checkpoint"] = Path.GetFullPath(store.Source) },
            };
            DraftWriter.Write(output, config, entries);
            return config;
        }
    }

    /// <summary>Writes the ctc or eagle draft folder <paramref name="draft"/> in the official layout.</summary>
    public static void Export(string draft, LlamaModel baseModel, string output)
    {
        DraftConfig d = DraftConfig.Load(draft);
        if (d.Kind == DraftKind.Medusa) throw new ModelFormatException(draft, "draft kind medusa: export it with --to medusa");
        if (d.Kind == DraftKind.CtcNar) throw new ModelFormatException(draft, "draft kind ctc-nar has no official checkpoint layout to export to");
        if (d.Kind == DraftKind.Eagle3) throw new ModelFormatException(draft, "draft kind eagle3 has no EAGLE-1 layout: export it with --to eagle3");
        if (d.Kind == DraftKind.Eagle3Ctc) throw new ModelFormatException(draft, "draft kind eagle3-ctc has no EAGLE-1 layout (nor an EAGLE-3 one: its blank row has no place there)");
        d.BaseModel.Check(BaseIdentity.Of(baseModel), Path.Combine(draft, "config.json"));
        ModelConfig lc = d.LayerConfig(baseModel.Config) with
        {
            Architecture = d.QkvBias ? "Qwen2ForCausalLM" : "LlamaForCausalLM", TieWordEmbeddings = false, SlidingWindow = null,
        };
        using var store = TensorStore.Open(draft);
        var entries = LayerTensors(lc).Select(t => DraftCheckpoint.Copy(store.Get(t.Name, t.Shape), t.Name)).ToList();
        var embedding = new float[(long)lc.VocabSize * lc.HiddenSize];
        Kernels.Conversions.ReadF32(baseModel.Weights.EmbeddingTensor(), 0, embedding);
        entries.Add(SafeTensorsWriter.Encode(Embedding, [lc.VocabSize, lc.HiddenSize], embedding, entries[0].DType.ToString()));
        SafeTensorsWriter.Entry? blank = d.Blank == BlankMode.Own ? DraftCheckpoint.Copy(store.Get(BlankRow, 1, lc.HiddenSize), BlankRow) : null;
        store.CheckEveryTensorRead(_ => false);

        JsonObject config = lc.ToJson();
        config["bias"] = true; // EAGLE's loader reads whether fc has a bias from here
        DraftCheckpoint.PutScoreTemperature(config, d);
        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        FolderWriter.Write(output, replace: true, tmp =>
        {
            SafeTensorsWriter.Write(Path.Combine(tmp, "model.safetensors"), entries, metadata);
            if (blank is not null) SafeTensorsWriter.Write(Path.Combine(tmp, BlankFile), [blank], metadata);
            File.WriteAllText(Path.Combine(tmp, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        });
    }
}
