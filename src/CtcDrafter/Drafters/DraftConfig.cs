using System.Text.Json;
using System.Text.Json.Nodes;
using CtcDrafter.Model;
using static CtcDrafter.Model.JsonFields;

namespace CtcDrafter.Drafters;

/// <summary>
/// Kinds of trained draft modules: the feature chains (ctc, eagle), Medusa heads, the non-autoregressive CTC
/// draft (ctc-nar), whose frames all come from one pass, and EAGLE-3 (eagle3), a chain over three base layers'
/// states with its own head over a draft vocabulary, and its CTC variant (eagle3-ctc), the same module with a blank
/// row, trained with the CTC loss on its chain's steps besides.
/// </summary>
public enum DraftKind { Ctc, Eagle, Medusa, CtcNar, Eagle3, Eagle3Ctc }

/// <summary>The names of <see cref="DraftKind"/> in config files, on the command line and in reports.</summary>
public static class DraftKinds
{
    public static string Name(this DraftKind kind) => kind switch
    {
        DraftKind.CtcNar => "ctc-nar",
        DraftKind.Eagle3Ctc => "eagle3-ctc",
        _ => kind.ToString().ToLowerInvariant(),
    };

    /// <summary>The kind named <paramref name="name"/>, or null for none.</summary>
    public static DraftKind? Parse(string name) => Enum.GetValues<DraftKind>().Cast<DraftKind?>().FirstOrDefault(k => k!.Value.Name() == name);

    /// <summary>Whether the kind's outputs carry a CTC blank.</summary>
    public static bool HasBlank(this DraftKind kind) => kind is DraftKind.Ctc or DraftKind.CtcNar or DraftKind.Eagle3Ctc;

    /// <summary>Whether the kind is EAGLE-3's module (over chosen base layers, with its own head), with or without a blank.</summary>
    public static bool IsEagle3(this DraftKind kind) => kind is DraftKind.Eagle3 or DraftKind.Eagle3Ctc;
}

/// <summary>How the CTC blank is represented in the draft's output.</summary>
public enum BlankMode
{
    /// <summary>No blank (EAGLE, Medusa).</summary>
    None,
    /// <summary>A trainable output row of the draft's own, appended after the vocabulary: blank id = vocab size.</summary>
    Own,
    /// <summary>The paper's choice: token 0 (LLaMA's &lt;unk&gt;) doubles as the blank.</summary>
    Unk,
}

/// <summary>
/// A draft folder's <c>config.json</c>: the kind of module, its layer shape, the blank handling and the base
/// model it was trained for. Weights are in <c>model.safetensors</c> beside it.
/// </summary>
public sealed record DraftConfig
{
    public required DraftKind Kind { get; init; }
    public required BaseIdentity BaseModel { get; init; }
    public required int HiddenSize { get; init; }
    public required int VocabSize { get; init; }
    /// <summary>ctc/eagle: the decoder layer's shape (a base layer's shape by default).</summary>
    public int IntermediateSize { get; init; }
    public int NumHeads { get; init; }
    public int NumKvHeads { get; init; }
    public int HeadDim { get; init; }
    public float RmsNormEps { get; init; } = 1e-6f;
    public float RopeTheta { get; init; } = 10000f;
    public BlankMode Blank { get; init; }
    /// <summary>ctc/eagle: whether the layer's q, k and v projections carry biases (the draft layer of a Qwen2 base).</summary>
    public bool QkvBias { get; init; }
    /// <summary>ctc-nar: K, the tokens after the root its frames spell.</summary>
    public int FutureTokens { get; init; }
    /// <summary>ctc-nar: r, frames per future token; the draft has F = r * K frames.</summary>
    public int Upsampling { get; init; }
    /// <summary>ctc-nar: F, the query frames of one draft pass.</summary>
    public int Frames => FutureTokens * Upsampling;
    /// <summary>The most frames a ctc-nar draft may declare.</summary>
    public const int MaxFrames = 64;
    /// <summary>
    /// eagle3: the base states its fc reads, one after another (<see cref="Model.BaseFeatures"/>: the inputs of these base
    /// layers; EAGLE-3's low, middle and high choice by default).
    /// </summary>
    public int[] FeatureLayers { get; init; } = [];
    /// <summary>eagle3: the draft vocabulary its head scores (draft id d is base token d + d2t[d]); the base's vocabulary by default.</summary>
    public int DraftVocabSize { get; init; }
    /// <summary>medusa: the number of heads (head k predicts the token k + 1 after the root).</summary>
    public int MedusaHeads { get; init; }
    /// <summary>medusa: ResBlocks per head, applied in turn before the head's projection (Medusa's medusa_num_layers).</summary>
    public int MedusaLayers { get; init; } = 1;
    /// <summary>
    /// The temperature the drafter scores its tree with (the draft tokens and the output never depend on it), fitted
    /// for this draft; absent, the kind's default: <see cref="DefaultScoreTemperature"/>.
    /// </summary>
    public float? ScoreTemperature { get; init; }
    /// <summary>Free-form training summary (data, steps, accuracy) shown by inspect.</summary>
    public JsonObject? Training { get; init; }

    /// <summary>
    /// The score temperature of a draft whose config names none. ctc and eagle drafts are trained mostly to regress
    /// the base model's next feature, which leaves their distributions flat, and a best-first tree scored with flat
    /// probabilities spends its nodes beside the chain: 0.3 was the best of 1, 0.5, 0.3 and 0.2 on ref-m's drafts
    /// (docs/ENGINE.md). Medusa heads, ctc-nar frames and EAGLE-3 are trained on the tokens alone: 1. Drafts trained by
    /// `train-draft` name the temperature fitted on their held-out split.
    /// </summary>
    public float DefaultScoreTemperature => Kind is DraftKind.Medusa or DraftKind.CtcNar || Kind.IsEagle3() ? 1f : 0.3f;

    /// <summary>Id of the blank in the draft's distributions, or null when it has none.</summary>
    public int? BlankId => Blank switch { BlankMode.Own => VocabSize, BlankMode.Unk => 0, _ => null };

    /// <summary>The draft layer as a one-layer model config (positions as long as the base's).</summary>
    internal ModelConfig LayerConfig(ModelConfig b) => b with
    {
        NumLayers = 1, HiddenSize = HiddenSize, IntermediateSize = IntermediateSize, NumHeads = NumHeads,
        NumKvHeads = NumKvHeads, HeadDim = HeadDim, RmsNormEps = RmsNormEps, RopeTheta = RopeTheta, QkvBias = QkvBias,
    };

    /// <summary>The most base layers an eagle3 draft may read.</summary>
    public const int MaxFeatureLayers = 8;

    /// <summary>The most Medusa heads a draft may declare (a tree is never deeper than this).</summary>
    public const int MaxMedusaHeads = 64;

    public static DraftConfig Load(string folder)
    {
        string path = Path.Combine(folder, "config.json");
        if (!Directory.Exists(folder)) throw new ModelFormatException(folder, "draft folder not found");
        if (!File.Exists(path)) throw new ModelFormatException(path, "file not found");
        try
        {
            if (JsonNode.Parse(File.ReadAllText(path)) is not JsonObject o) throw new ModelFormatException(path, "expected a JSON object");
            string kind = Str(o, "draft_kind") ?? throw new ModelFormatException(path, "required field 'draft_kind' is missing (is this a draft folder?)");
            var c = new DraftConfig
            {
                Kind = DraftKinds.Parse(kind)
                    ?? throw new ModelFormatException(path, $"unknown draft_kind '{kind}' ({string.Join(", ", Enum.GetValues<DraftKind>().Select(k => k.Name()))})"),
                BaseModel = BaseIdentity.FromJson(o["base_model"], path),
                HiddenSize = RequiredInt(o, "hidden_size"),
                VocabSize = RequiredInt(o, "vocab_size"),
                IntermediateSize = Int(o, "intermediate_size") ?? 0,
                NumHeads = Int(o, "num_attention_heads") ?? 0,
                NumKvHeads = Int(o, "num_key_value_heads") ?? 0,
                HeadDim = Int(o, "head_dim") ?? 0,
                RmsNormEps = (float)(Number(o, "rms_norm_eps") ?? 1e-6),
                RopeTheta = (float)(Number(o, "rope_theta") ?? 10000),
                Blank = (Str(o, "blank") ?? "none") switch
                {
                    "none" => BlankMode.None, "own" => BlankMode.Own, "unk" => BlankMode.Unk,
                    var b => throw new ModelFormatException(path, $"unknown blank '{b}' (none, own, unk)"),
                },
                QkvBias = Flag(o, "qkv_bias") ?? false,
                FutureTokens = Int(o, "future_tokens") ?? 0,
                Upsampling = Int(o, "upsampling") ?? 0,
                FeatureLayers = IntList(o, "feature_layers") ?? [],
                DraftVocabSize = Int(o, "draft_vocab_size") ?? RequiredInt(o, "vocab_size"),
                MedusaHeads = Int(o, "medusa_heads") ?? 0,
                MedusaLayers = Int(o, "medusa_layers") ?? 1,
                ScoreTemperature = (float?)Number(o, "score_temperature"),
                Training = Object(o, "training"),
            };
            if (c.Kind == DraftKind.Medusa ? c.MedusaHeads <= 0 : c.NumHeads <= 0 || c.NumKvHeads <= 0 || c.HeadDim <= 0 || c.IntermediateSize <= 0)
                throw new ModelFormatException(path, c.Kind == DraftKind.Medusa ? "medusa_heads must be positive" : "the layer shape (intermediate_size, num_attention_heads, num_key_value_heads, head_dim) is missing");
            if (c.HiddenSize <= 0 || c.VocabSize <= 0 || (long)c.HiddenSize * Math.Max(c.IntermediateSize, c.NumHeads * (long)c.HeadDim) > int.MaxValue
                || (long)c.HiddenSize * c.VocabSize > int.MaxValue)
                throw new ModelFormatException(path, "hidden_size, vocab_size and the layer shape must be positive and make matrices of at most 2^31 elements");
            if (c.Kind == DraftKind.Medusa && c.QkvBias) throw new ModelFormatException(path, "qkv_bias: a medusa draft has no attention layer");
            if (c.MedusaHeads > MaxMedusaHeads) throw new ModelFormatException(path, $"medusa_heads {c.MedusaHeads} is beyond the limit of {MaxMedusaHeads}");
            if (c.MedusaLayers is < 1 or > MaxMedusaHeads) throw new ModelFormatException(path, $"medusa_layers {c.MedusaLayers} must be between 1 and {MaxMedusaHeads}");
            if (c.Kind.IsEagle3() && (c.FeatureLayers.Length is < 1 or > MaxFeatureLayers || c.FeatureLayers.Any(l => l < 0)))
                throw new ModelFormatException(path, $"an eagle3 draft needs feature_layers: 1 to {MaxFeatureLayers} base layer indices (the layers whose inputs its fc reads)");
            if (c.Kind.IsEagle3() && (c.DraftVocabSize < 1 || c.DraftVocabSize > c.VocabSize))
                throw new ModelFormatException(path, $"draft_vocab_size {c.DraftVocabSize} must be between 1 and the vocabulary's {c.VocabSize}");
            if (c.Kind.IsEagle3() && c.QkvBias) throw new ModelFormatException(path, "qkv_bias: an eagle3 draft layer has no q/k/v biases here");
            if (c.ScoreTemperature is { } t && !(float.IsFinite(t) && t > 0))
                throw new ModelFormatException(path, $"score_temperature {t} must be a positive number");
            if (c.Kind.HasBlank() != (c.Blank != BlankMode.None))
                throw new ModelFormatException(path, "a ctc draft needs a blank ('own' or 'unk'), other kinds none");
            if (c.Kind is DraftKind.CtcNar or DraftKind.Eagle3Ctc && c.Blank != BlankMode.Own)
                throw new ModelFormatException(path, $"a {c.Kind.Name()} draft needs its own blank row (blank 'own')");
            if (c.Kind == DraftKind.CtcNar && (c.FutureTokens < 1 || c.Upsampling < 1 || c.FutureTokens * (long)c.Upsampling > MaxFrames))
                throw new ModelFormatException(path, $"a ctc-nar draft needs future_tokens >= 1 and upsampling >= 1 with at most {MaxFrames} frames");
            return c;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new ModelFormatException(path, $"malformed ({e.Message})");
        }
    }

    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["draft_kind"] = Kind.Name(),
            ["base_model"] = BaseModel.ToJson(),
            ["hidden_size"] = HiddenSize,
            ["vocab_size"] = VocabSize,
            ["intermediate_size"] = IntermediateSize,
            ["num_attention_heads"] = NumHeads,
            ["num_key_value_heads"] = NumKvHeads,
            ["head_dim"] = HeadDim,
            ["rms_norm_eps"] = RmsNormEps,
            ["rope_theta"] = RopeTheta,
            ["blank"] = Blank.ToString().ToLowerInvariant(),
            ["medusa_heads"] = MedusaHeads,
            ["medusa_layers"] = MedusaLayers,
            ["training"] = Training?.DeepClone(),
        };
        if (ScoreTemperature is { } t) o["score_temperature"] = t;
        if (QkvBias) o["qkv_bias"] = true;
        if (Kind.IsEagle3())
        {
            o["feature_layers"] = new JsonArray([.. FeatureLayers.Select(l => JsonValue.Create(l))]);
            o["draft_vocab_size"] = DraftVocabSize;
        }
        if (Kind == DraftKind.CtcNar)
        {
            o["future_tokens"] = FutureTokens;
            o["upsampling"] = Upsampling;
        }
        return o;
    }
}
