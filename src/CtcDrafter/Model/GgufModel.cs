using CtcDrafter.Text;
using PieceType = CtcDrafter.Text.SentencePieceModel.PieceType;

namespace CtcDrafter.Model;

/// <summary>
/// What a GGUF file's metadata says of its model, in the engine's terms: the architecture (<c>qwen2</c>: Qwen2 and Qwen2.5,
/// with q/k/v biases and rotate-half RoPE; <c>llama</c>: Llama 1/2/3,
/// Mistral, TinyLlama, Vicuna), the tokenizer (<c>tokenizer.ggml.model</c> "llama": SentencePiece pieces, scores and
/// types, encoded as llama.cpp's SPM tokenizer does; "gpt2": byte-level BPE from the tokens and merges, split by the
/// pre-tokenizer <c>tokenizer.ggml.pre</c> names) and the chat template text. What the engine cannot compute
/// exactly (another architecture, RoPE scaling other than linear and Llama-3's frequency factors, partial rotary
/// dimensions, experts) is refused by name.
/// </summary>
internal static class GgufModel
{
    public static bool IsGguf(string path) => File.Exists(path) && path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase);

    public static ModelConfig Config(GgufFile g)
    {
        string arch = g.Text("general.architecture") ?? throw new ModelFormatException(g.Path, "metadata 'general.architecture' is missing");
        if (arch is not ("llama" or "qwen2"))
            throw new ModelFormatException(g.Path, $"architecture '{arch}' is not supported (supported: llama, qwen2)");
        int Int(string key, long? fallback = null)
        {
            long v = g.Int($"{arch}.{key}") ?? fallback ?? throw new ModelFormatException(g.Path, $"metadata '{arch}.{key}' is missing");
            return v is > 0 and <= int.MaxValue ? (int)v : throw new ModelFormatException(g.Path, $"metadata '{arch}.{key}' is {v}, not a positive 32-bit size");
        }
        if (g.Int($"{arch}.expert_count") is > 0)
            throw new ModelFormatException(g.Path, "the model has experts (mixture of experts), which the engine does not compute");
        int hidden = Int("embedding_length"), heads = Int("attention.head_count");
        int headDim = Int("attention.key_length", hidden / heads);
        if (Int("attention.value_length", headDim) != headDim)
            throw new ModelFormatException(g.Path, "attention key and value lengths differ, which LLaMA layers do not");
        if (Int("rope.dimension_count", headDim) != headDim)
            throw new ModelFormatException(g.Path, $"RoPE rotates {g.Int($"{arch}.rope.dimension_count")} of {headDim} head dimensions; the engine rotates them all");
        RopeScaling? ropeScaling = RopeScalingOf(g, arch, headDim);
        var tokens = g.Array<string>("tokenizer.ggml.tokens");
        int vocab = (int)(g.Int($"{arch}.vocab_size") ?? tokens?.Length ?? (g.Tensors.TryGetValue("token_embd.weight", out var e) ? e.Shape[0] : 0));
        var c = new ModelConfig
        {
            Architecture = arch == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM",
            QkvBias = arch == "qwen2",
            HiddenSize = hidden,
            IntermediateSize = Int("feed_forward_length"),
            NumLayers = Int("block_count"),
            NumHeads = heads,
            NumKvHeads = Int("attention.head_count_kv", heads),
            VocabSize = vocab,
            HeadDim = headDim,
            MaxPositionEmbeddings = Int("context_length"),
            RmsNormEps = (float)(g.Float($"{arch}.attention.layer_norm_rms_epsilon") ?? 1e-5),
            RopeTheta = (float)(g.Float($"{arch}.rope.freq_base") ?? 10000),
            RopeScaling = ropeScaling,
            TieWordEmbeddings = !g.Tensors.ContainsKey("output.weight"),
            BosTokenId = (int)(g.Int("tokenizer.ggml.bos_token_id") ?? 1),
            EosTokenIds = [(int)(g.Int("tokenizer.ggml.eos_token_id") ?? 2)],
        };
        try { c.Validate(); }
        catch (FormatException ex) { throw new ModelFormatException(g.Path, ex.Message); }
        return c;
    }

    /// <summary>
    /// The runtime format that computes a GGUF file as it is: that of its largest matrices' type (Q8_0: q8; Q4_0,
    /// Q4_K or Q6_K: q4, whose quantized tensors all keep their blocks; BF16: bf16; F32 and F16: f32, F16 widening
    /// exactly).
    /// </summary>
    public static Kernels.WeightFormat NativeFormat(string path)
    {
        using var g = new GgufFile(path);
        var largest = g.Tensors.Values.Where(t => t.Shape.Length == 2).GroupBy(t => t.DType)
            .OrderByDescending(group => group.Sum(t => t.Elements)).Select(group => group.Key).FirstOrDefault(TensorDType.F32);
        return largest switch
        {
            TensorDType.Q8_0 => Kernels.WeightFormat.Q8,
            TensorDType.Q4_0 or TensorDType.Q4_K or TensorDType.Q6_K => Kernels.WeightFormat.Q4,
            TensorDType.BF16 => Kernels.WeightFormat.BF16,
            _ => Kernels.WeightFormat.F32,
        };
    }

    /// <summary>The tensor llama.cpp's converter writes for Llama-3 RoPE scaling: one divisor per rotated pair.</summary>
    public const string RopeFreqsTensor = "rope_freqs.weight";

    /// <summary>
    /// RoPE scaling in GGUF terms: <c>rope.scaling.type</c> "linear" with <c>rope.scaling.factor</c>, or Llama-3's
    /// per-frequency divisors in the tensor <c>rope_freqs.weight</c> (F32, head_dim / 2 values); other types refused.
    /// </summary>
    static RopeScaling? RopeScalingOf(GgufFile g, string arch, int headDim)
    {
        string type = g.Text($"{arch}.rope.scaling.type") ?? "none";
        bool hasFactors = g.Tensors.TryGetValue(RopeFreqsTensor, out RawTensor freqs);
        if (type is not ("none" or "linear"))
            throw new ModelFormatException(g.Path, $"RoPE scaling '{type}' is not supported (supported: linear, and Llama-3's rope_freqs.weight)");
        if (type == "linear" && hasFactors)
            throw new ModelFormatException(g.Path, "the file has both linear RoPE scaling and rope_freqs.weight, which no model combines");
        if (type == "linear")
        {
            double factor = g.Float($"{arch}.rope.scaling.factor") ?? throw new ModelFormatException(g.Path, $"metadata '{arch}.rope.scaling.factor' is missing");
            if (!(factor >= 1)) throw new ModelFormatException(g.Path, $"metadata '{arch}.rope.scaling.factor' is {factor}, not at least 1");
            return new RopeScaling { Type = "linear", Factor = (float)factor };
        }
        if (!hasFactors) return null;
        if (freqs.DType != TensorDType.F32 || freqs.Shape is not [int n] || n != headDim / 2)
            throw new ModelFormatException(g.Path, $"tensor '{RopeFreqsTensor}' is {freqs.DType} [{string.Join(", ", freqs.Shape)}], not F32 [{headDim / 2}]");
        var factors = new float[n];
        Kernels.Conversions.ReadF32(freqs, 0, factors);
        if (factors.Any(f => !(f > 0) || float.IsInfinity(f)))
            throw new ModelFormatException(g.Path, $"tensor '{RopeFreqsTensor}' holds a divisor that is not a positive number");
        return new RopeScaling { Type = "freq_factors", FreqFactors = factors };
    }

    /// <summary>llama.cpp permutes a <c>llama</c> model's q/k rows for its interleaved RoPE.</summary>
    public static bool InterleavedQk(GgufFile g) => g.Text("general.architecture") == "llama";

    /// <summary>The tokenizer the metadata describes, or null when it has none: <c>tokenizer.ggml.model</c> "llama"
    /// (SentencePiece) or "gpt2" (byte-level BPE).</summary>
    public static TextTokenizer? Tokenizer(GgufFile g)
    {
        string? kind = g.Text("tokenizer.ggml.model");
        try
        {
            return kind switch
            {
                null => null,
                "llama" => SentencePieceTokenizer(g),
                "gpt2" => ByteLevelTokenizer(g),
                _ => throw new ModelFormatException(g.Path, $"tokenizer.ggml.model '{kind}' is not supported (supported: llama, gpt2)"),
            };
        }
        catch (FormatException ex) { throw new ModelFormatException(g.Path, $"tokenizer: {ex.Message}"); }
    }

    static TextTokenizer SentencePieceTokenizer(GgufFile g)
    {
        string[] pieces = TokenTexts(g);
        float[] scores = g.Array<float>("tokenizer.ggml.scores") ?? new float[pieces.Length];
        if (scores.Length != pieces.Length)
            throw new ModelFormatException(g.Path, $"{pieces.Length} tokens but {scores.Length} scores");
        long[] types = TokenTypes(g, pieces.Length);
        string Piece(string key, int fallback) => pieces[TokenId(g, key, pieces.Length) ?? fallback];
        var model = new SentencePieceModel
        {
            Pieces = pieces, Scores = scores, Types = [.. types.Select(t => (PieceType)t)],
            Kind = SentencePieceModel.ModelKind.Bpe,
            ByteFallback = types.Contains((long)PieceType.Byte),
            UnkPiece = Piece("tokenizer.ggml.unknown_token_id", 0),
            BosPiece = Piece("tokenizer.ggml.bos_token_id", 1),
            EosPiece = Piece("tokenizer.ggml.eos_token_id", 2),
            NormalizerName = "identity",
            // llama.cpp's SPM tokenizer: a dummy-prefix space unless add_space_prefix is false, spaces kept as they are.
            AddDummyPrefix = g.Flag("tokenizer.ggml.add_space_prefix") ?? true,
            RemoveExtraWhitespaces = false,
        };
        return SentencePieceBpeTokenizer.FromModel(model, g.Path, config: null);
    }

    // llama.cpp's BPE vocabulary: tokens spelled in GPT-2's byte alphabet, merges "a b" by rank, the pre-tokenizer
    // named by tokenizer.ggml.pre. Control (and unknown) tokens are special added tokens, matched only when special
    // texts are parsed; user-defined tokens are stored as plain text and always matched whole, as llama.cpp does.
    static TextTokenizer ByteLevelTokenizer(GgufFile g)
    {
        string[] tokens = TokenTexts(g);
        long[] types = TokenTypes(g, tokens.Length);
        string pre = g.Text("tokenizer.ggml.pre") ?? "default";
        var (preTokenizer, addsBos) = ByteLevelPreTokenizer.ForGguf(pre) ?? throw new ModelFormatException(g.Path,
            $"pre-tokenizer (tokenizer.ggml.pre) '{pre}' is not supported (supported: {ByteLevelPreTokenizer.GgufNames})");
        string[] mergeTexts = g.Array<string>("tokenizer.ggml.merges")
            ?? throw new ModelFormatException(g.Path, "metadata 'tokenizer.ggml.merges' is missing (a gpt2 tokenizer needs its BPE merges)");

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        var added = new List<AddedToken>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int id = 0; id < tokens.Length; id++)
        {
            string token = tokens[id];
            if (!seen.Add(token)) throw new ModelFormatException(g.Path, $"token {id} '{token}' appears twice in 'tokenizer.ggml.tokens'");
            if (token.Length == 0) continue;
            switch ((PieceType)types[id])
            {
                case PieceType.Normal or PieceType.Byte: vocab.Add(token, id); break;
                case PieceType.Control or PieceType.Unknown: added.Add(new AddedToken(token, id, Special: true)); break;
                case PieceType.UserDefined: added.Add(new AddedToken(token, id, Special: false)); break;
            }
        }
        var merges = new (string Left, string Right)[mergeTexts.Length];
        for (int rank = 0; rank < merges.Length; rank++)
        {
            string text = mergeTexts[rank];
            int space = text.IndexOf(' ', 1);
            if (space < 0 || text.IndexOf(' ', space + 1) >= 0)
                throw new ModelFormatException(g.Path, $"merge {rank} \"{text}\" of 'tokenizer.ggml.merges' is not two tokens separated by a space");
            merges[rank] = (text[..space], text[(space + 1)..]);
            if (!vocab.ContainsKey(merges[rank].Left) || !vocab.ContainsKey(merges[rank].Right) || !vocab.ContainsKey(text.Remove(space, 1)))
                throw new ModelFormatException(g.Path, $"merge {rank} \"{text}\" of 'tokenizer.ggml.merges' uses or makes a token missing from the vocabulary");
        }
        int? bos = TokenId(g, "tokenizer.ggml.bos_token_id", tokens.Length);
        int eos = TokenId(g, "tokenizer.ggml.eos_token_id", tokens.Length) ?? -1;
        TokenId(g, "tokenizer.ggml.padding_token_id", tokens.Length);
        // BosId is the token Encode(addBos: true) puts first: none when the file says not to add one (Qwen2).
        bool addBos = g.Flag("tokenizer.ggml.add_bos_token") ?? addsBos;
        if (addBos && bos is null)
            throw new ModelFormatException(g.Path, "the tokenizer adds a BOS token but metadata 'tokenizer.ggml.bos_token_id' is missing");
        return ByteLevelBpeTokenizer.Create(g.Path, vocab, merges, added, tokens.Length, addBos ? bos!.Value : -1, eos,
            preTokenizer, addPrefixSpace: false);
    }

    static string[] TokenTexts(GgufFile g) =>
        g.Array<string>("tokenizer.ggml.tokens") ?? throw new ModelFormatException(g.Path, "metadata 'tokenizer.ggml.tokens' is missing");

    /// <summary>tokenizer.ggml.token_type, one per token (all normal when absent): 1 normal, 2 unknown, 3 control,
    /// 4 user-defined, 5 unused, 6 byte.</summary>
    static long[] TokenTypes(GgufFile g, int count)
    {
        long[] types = g.Array<long>("tokenizer.ggml.token_type") ?? [.. Enumerable.Repeat((long)PieceType.Normal, count)];
        if (types.Length != count)
            throw new ModelFormatException(g.Path, $"{count} tokens but {types.Length} token types");
        if (types.Any(t => t is < 1 or > 6))
            throw new ModelFormatException(g.Path, $"token type {types.First(t => t is < 1 or > 6)} is unknown (1 to 6)");
        return types;
    }

    /// <summary>A token id of the metadata, null when absent; one outside the vocabulary is an error naming the key.</summary>
    static int? TokenId(GgufFile g, string key, int count) => g.Int(key) switch
    {
        null => null,
        long id when id >= 0 && id < count => (int)id,
        long id => throw new ModelFormatException(g.Path, $"metadata '{key}' is {id}, outside the {count} tokens"),
    };

    /// <summary>The Jinja chat template of the metadata, if any.</summary>
    public static string? ChatTemplate(GgufFile g) => g.Text("tokenizer.chat_template");
}
