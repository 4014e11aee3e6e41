using System.Text.Json;
using System.Text.Json.Nodes;
using static CtcDrafter.Model.JsonFields;

namespace CtcDrafter.Model;

/// <summary>The architecture of a LLaMA-family model, as read from a Hugging Face <c>config.json</c>.</summary>
public sealed record ModelConfig
{
    public static readonly IReadOnlyList<string> SupportedArchitectures = ["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"];

    public required string Architecture { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int VocabSize { get; init; }
    public required int HeadDim { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public float RmsNormEps { get; init; } = 1e-6f;
    public float RopeTheta { get; init; } = 10000f;
    /// <summary>Scaling of the rotary frequencies, or null.</summary>
    public RopeScaling? RopeScaling { get; init; }
    public bool TieWordEmbeddings { get; init; }
    public int BosTokenId { get; init; } = 1;
    public IReadOnlyList<int> EosTokenIds { get; init; } = [2];
    /// <summary>Biases on the q, k and v projections (Qwen2).</summary>
    public bool QkvBias { get; init; }
    /// <summary>Mistral's sliding attention window, or null; the context is limited to it so attention stays exact.</summary>
    public int? SlidingWindow { get; init; }

    /// <summary>The rotary inverse frequencies [HeadDim / 2], scaled if the model says so.</summary>
    public float[] InverseFrequencies()
    {
        float[] inv = RopeScaling.BaseInverseFrequencies(HeadDim, RopeTheta);
        return RopeScaling is { } s ? s.Apply(inv) : inv;
    }

    public int KvDim => NumKvHeads * HeadDim;
    public int QDim => NumHeads * HeadDim;

    /// <summary>Longest sequence (prompt + output) this model can attend over exactly.</summary>
    public int MaxContext => SlidingWindow is int w && w < MaxPositionEmbeddings ? w : MaxPositionEmbeddings;

    public long ParameterCount
    {
        get
        {
            long h = HiddenSize, perLayer = 2 * h + h * QDim + 2 * h * KvDim + QDim * h + 3 * h * IntermediateSize;
            return NumLayers * perLayer + h + (long)VocabSize * h * (TieWordEmbeddings ? 1 : 2);
        }
    }

    public static ModelConfig Load(string path)
    {
        if (!File.Exists(path)) throw new ModelFormatException(path, "file not found");
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new ModelFormatException(path, $"not valid JSON ({e.Message})"); }
        if (root is not JsonObject o) throw new ModelFormatException(path, "expected a JSON object");
        try { return FromJson(o); }
        catch (FormatException e) { throw new ModelFormatException(path, e.Message); }
        catch (InvalidOperationException e) { throw new ModelFormatException(path, $"a field has the wrong JSON type ({e.Message})"); }
    }

    public static ModelConfig FromJson(JsonObject o)
    {
        string? modelType = Str(o, "model_type");
        string arch = o["architectures"] is JsonArray { Count: > 0 } a
            ? (a[0] is JsonValue v && v.TryGetValue(out string? first) ? first : throw new FormatException($"field 'architectures' must be a list of names, got {a.ToJsonString()}"))
            : modelType switch
            {
                "llama" => "LlamaForCausalLM",
                "mistral" => "MistralForCausalLM",
                "qwen2" => "Qwen2ForCausalLM",
                var t => throw new FormatException($"no 'architectures' field and unknown model_type '{t}'"),
            };
        if (!SupportedArchitectures.Contains(arch))
            throw new FormatException($"unsupported architecture '{arch}' (supported: {string.Join(", ", SupportedArchitectures)})");
        if (o["architectures"] is { } archs and not JsonArray) throw new FormatException($"field 'architectures' must be a list of names, got {archs.ToJsonString()}");
        string act = Str(o, "hidden_act") ?? "silu";
        if (act != "silu") throw new FormatException($"unsupported hidden_act '{act}' (only silu)");
        bool qwen2 = arch == "Qwen2ForCausalLM";
        // Qwen2's q/k/v projections always carry biases; its window applies only when use_sliding_window is true.
        if (qwen2 && Flag(o, "use_sliding_window") == true)
            throw new FormatException("use_sliding_window is true: the engine does not compute Qwen2's per-layer sliding windows and refuses a model it cannot compute exactly");
        foreach (string bias in qwen2 ? (string[])["mlp_bias"] : ["attention_bias", "mlp_bias"])
            if (Flag(o, bias) == true)
                throw new FormatException($"{bias} is true: the engine computes LLaMA layers without biases and refuses a model it cannot compute exactly");
        var ropeScaling = RopeScaling.Parse(o["rope_scaling"]);

        int hidden = RequiredInt(o, "hidden_size"), heads = RequiredInt(o, "num_attention_heads");
        int kvHeads = Int(o, "num_key_value_heads") ?? heads;
        int headDim = Int(o, "head_dim") ?? (heads > 0 ? hidden / heads : 0);
        var c = new ModelConfig
        {
            Architecture = arch,
            HiddenSize = hidden,
            IntermediateSize = RequiredInt(o, "intermediate_size"),
            NumLayers = RequiredInt(o, "num_hidden_layers"),
            NumHeads = heads,
            NumKvHeads = kvHeads,
            VocabSize = RequiredInt(o, "vocab_size"),
            HeadDim = headDim,
            MaxPositionEmbeddings = Int(o, "max_position_embeddings") ?? 2048,
            RmsNormEps = (float)(Number(o, "rms_norm_eps") ?? 1e-6),
            RopeTheta = (float)(Number(o, "rope_theta") ?? 10000.0),
            RopeScaling = ropeScaling,
            TieWordEmbeddings = Flag(o, "tie_word_embeddings") ?? false,
            BosTokenId = Int(o, "bos_token_id") ?? 1,
            EosTokenIds = IntOrList(o, "eos_token_id") ?? [2],
            SlidingWindow = qwen2 ? null : Int(o, "sliding_window"),
            QkvBias = qwen2,
        };
        c.Validate();
        return c;
    }

    /// <summary>Checks the shape before anything is sized by it; throws <see cref="FormatException"/> naming the
    /// field and the limit.</summary>
    internal void Validate()
    {
        void Check(bool ok, string what) { if (!ok) throw new FormatException(what); }
        Check(HiddenSize > 0 && IntermediateSize > 0 && NumLayers > 0 && VocabSize > 0 && MaxPositionEmbeddings > 0,
            "sizes must be positive");
        Check(NumHeads > 0 && NumKvHeads > 0 && NumHeads % NumKvHeads == 0,
            $"num_attention_heads ({NumHeads}) must be a positive multiple of num_key_value_heads ({NumKvHeads})");
        Check(HeadDim > 0 && HeadDim % 2 == 0, $"head dimension {HeadDim} must be even and positive");
        Check(SlidingWindow is null or > 0, $"sliding_window must be positive or null (got {SlidingWindow})");
        Check(MaxPositionEmbeddings <= MaxPositions, $"max_position_embeddings {MaxPositionEmbeddings} is beyond the engine's limit of {MaxPositions}");
        Check((long)HiddenSize * IntermediateSize <= int.MaxValue && (long)VocabSize * HiddenSize <= int.MaxValue && (long)NumHeads * HeadDim <= int.MaxValue,
            "hidden_size, intermediate_size, vocab_size and the heads make a matrix beyond 2^31 elements");
    }

    /// <summary>The config.json a Hugging Face LlamaForCausalLM loads unchanged.</summary>
    public JsonObject ToJson() => new()
    {
        ["architectures"] = new JsonArray(Architecture),
        ["model_type"] = Architecture switch { "MistralForCausalLM" => "mistral", "Qwen2ForCausalLM" => "qwen2", _ => "llama" },
        ["hidden_size"] = HiddenSize,
        ["intermediate_size"] = IntermediateSize,
        ["num_hidden_layers"] = NumLayers,
        ["num_attention_heads"] = NumHeads,
        ["num_key_value_heads"] = NumKvHeads,
        ["head_dim"] = HeadDim,
        ["vocab_size"] = VocabSize,
        ["max_position_embeddings"] = MaxPositionEmbeddings,
        ["rms_norm_eps"] = RmsNormEps,
        ["rope_theta"] = RopeTheta,
        ["rope_scaling"] = RopeScaling is { Type: not "freq_factors" } scaling ? scaling.ToJson() : null,
        ["tie_word_embeddings"] = TieWordEmbeddings,
        ["hidden_act"] = "silu",
        ["bos_token_id"] = BosTokenId,
        ["eos_token_id"] = EosTokenIds.Count == 1 ? EosTokenIds[0] : new JsonArray(EosTokenIds.Select(i => (JsonNode)i).ToArray()),
        ["torch_dtype"] = "bfloat16",
        ["use_sliding_window"] = Architecture == "Qwen2ForCausalLM" ? false : null,
    };

    /// <summary>The largest max_position_embeddings accepted (the KV cache is sized from it).</summary>
    public const int MaxPositions = 1 << 24;
}
