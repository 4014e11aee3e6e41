using CtcDrafter.Kernels;

namespace CtcDrafter.Model;

/// <summary>The weights of one decoder layer.</summary>
internal sealed class LayerWeights
{
    public required float[]? AttnNorm { get; init; } // [hidden]; null in draft layers (no input norm)
    /// <summary>
    /// [hidden]: an EAGLE-3 draft layer, whose attention input is [EmbedNorm(token embedding); AttnNorm(x)] of 2 * hidden
    /// (so Wq, Wk, Wv take 2 * hidden columns); null in every other layer.
    /// </summary>
    public float[]? EmbedNorm { get; init; }
    public required WeightMatrix Wq { get; init; }    // [heads * headDim, hidden]
    public float[]? Bq { get; init; }                 // [heads * headDim]; q/k/v biases (Qwen2), else null
    public float[]? Bk { get; init; }                 // [kvHeads * headDim]
    public float[]? Bv { get; init; }                 // [kvHeads * headDim]
    public required WeightMatrix Wk { get; init; }    // [kvHeads * headDim, hidden]
    public required WeightMatrix Wv { get; init; }    // [kvHeads * headDim, hidden]
    public required WeightMatrix Wo { get; init; }    // [hidden, heads * headDim]
    public required float[] MlpNorm { get; init; }   // [hidden]
    public required WeightMatrix Gate { get; init; }  // [ffn, hidden]
    public required WeightMatrix Up { get; init; }    // [ffn, hidden]
    public required WeightMatrix Down { get; init; }  // [hidden, ffn]

    public IEnumerable<WeightMatrix> Matrices => [Wq, Wk, Wv, Wo, Gate, Up, Down];
}

/// <summary>
/// All weights of a LLaMA-family model in one runtime format, read from the Hugging Face tensor names.
/// F32 files at F32 (and BF16 at BF16) stay memory-mapped; other combinations are converted once.
/// </summary>
internal sealed class ModelWeights : IDisposable
{
    readonly TensorStore _store;

    public WeightMatrix Embedding { get; }   // [vocab, hidden]
    public LayerWeights[] Layers { get; }
    public float[] FinalNorm { get; }        // [hidden]
    public WeightMatrix LmHead { get; }      // [vocab, hidden]; the embedding itself when tied
    public WeightFormat Format { get; }

    readonly bool _tied;

    /// <summary>Reads the weights from <paramref name="store"/>, which it then owns.</summary>
    public ModelWeights(TensorStore store, ModelConfig c, WeightFormat format)
    {
        Format = format;
        _tied = c.TieWordEmbeddings;
        _store = store;
        try
        {
            int h = c.HiddenSize, f = c.IntermediateSize;
            Embedding = Matrix("model.embed_tokens.weight", c.VocabSize, h);
            Layers = new LayerWeights[c.NumLayers];
            for (int l = 0; l < c.NumLayers; l++)
            {
                string p = $"model.layers.{l}.";
                Layers[l] = new LayerWeights
                {
                    AttnNorm = _store.GetVector(p + "input_layernorm.weight", h),
                    Wq = Matrix(p + "self_attn.q_proj.weight", c.QDim, h),
                    Wk = Matrix(p + "self_attn.k_proj.weight", c.KvDim, h),
                    Wv = Matrix(p + "self_attn.v_proj.weight", c.KvDim, h),
                    Wo = Matrix(p + "self_attn.o_proj.weight", h, c.QDim),
                    Bq = c.QkvBias ? _store.GetVector(p + "self_attn.q_proj.bias", c.QDim) : null,
                    Bk = c.QkvBias ? _store.GetVector(p + "self_attn.k_proj.bias", c.KvDim) : null,
                    Bv = c.QkvBias ? _store.GetVector(p + "self_attn.v_proj.bias", c.KvDim) : null,
                    MlpNorm = _store.GetVector(p + "post_attention_layernorm.weight", h),
                    Gate = Matrix(p + "mlp.gate_proj.weight", f, h),
                    Up = Matrix(p + "mlp.up_proj.weight", f, h),
                    Down = Matrix(p + "mlp.down_proj.weight", h, f),
                };
            }
            FinalNorm = _store.GetVector("model.norm.weight", h);
            LmHead = c.TieWordEmbeddings || !_store.Contains("lm_head.weight")
                ? (c.TieWordEmbeddings ? Embedding : throw new ModelFormatException(store.Source,
                    "tensor 'lm_head.weight' is missing and config.json has tie_word_embeddings false"))
                : Matrix("lm_head.weight", c.VocabSize, h);
            _store.CheckEveryTensorRead(name => name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal)
                || name == GgufModel.RopeFreqsTensor); // read into the config
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    WeightMatrix Matrix(string name, int rows, int cols)
    {
        RawTensor t = _store.Get(name, rows, cols);
        WeightMatrix m = WeightMatrix.Create(t, FormatOf(t.DType, cols));
        bool view = (m.Format, t.DType) is (WeightFormat.F32, TensorDType.F32) or (WeightFormat.BF16, TensorDType.BF16);
        if (!view) _store.Release(name);
        return m;
    }

    /// <summary>
    /// The runtime format of a tensor: F32 widens everything (exactly); otherwise a quantized tensor keeps its own
    /// blocks (requantizing would lose precision for nothing) and a float tensor takes the requested format, except
    /// that a row length that is not a multiple of 32 cannot be cut into Q8 or Q4 blocks and stays in F32.
    /// </summary>
    WeightFormat FormatOf(TensorDType dtype, int cols) => (Format, dtype) switch
    {
        (WeightFormat.F32, _) => WeightFormat.F32,
        (_, TensorDType.Q8_0) => WeightFormat.Q8,
        (_, TensorDType.Q4_0 or TensorDType.Q4_K) => WeightFormat.Q4,
        (_, TensorDType.Q6_K) => WeightFormat.Q6K,
        (WeightFormat.Q8 or WeightFormat.Q4, _) when cols % 32 != 0 => WeightFormat.F32,
        _ => Format,
    };

    IEnumerable<WeightMatrix> AllMatrices =>
        (Layers ?? []).Where(l => l is not null).SelectMany(l => l.Matrices)
        .Append(Embedding).Append(LmHead).Where(m => m is not null).Distinct();

    /// <summary>Bytes of weights read by one decode step (all layers and the LM head; one embedding row is negligible).</summary>
    public long DecodeBytes => Layers.SelectMany(l => l.Matrices).Append(LmHead).Sum(m => m.Bytes)
        + Layers.Length * 2L * FinalNorm.Length * sizeof(float);

    /// <summary>Bytes of all weights held in the runtime format.</summary>
    public long RuntimeBytes => AllMatrices.Sum(m => m.Bytes);

    /// <summary>The LM head's tensor as the file stores it (the embedding when tied).</summary>
    public RawTensor LmHeadTensor() =>
        _store.Get(_store.Contains("lm_head.weight") && !_tied ? "lm_head.weight" : "model.embed_tokens.weight", LmHead.Rows, LmHead.Cols);

    /// <summary>The embedding's tensor as the file stores it.</summary>
    public RawTensor EmbeddingTensor() => _store.Get("model.embed_tokens.weight", Embedding.Rows, Embedding.Cols);

    /// <summary>SHA-256 (16 hex digits) of the LM head's values rounded to bfloat16, whatever the file dtype.</summary>
    public string LmHeadHash()
    {
        RawTensor t = LmHeadTensor();
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        var values = new float[1 << 15];
        var bits = new byte[2 * values.Length];
        for (long i = 0; i < t.Elements; i += values.Length)
        {
            int m = (int)Math.Min(values.Length, t.Elements - i);
            Conversions.ReadF32(t, i, values.AsSpan(0, m));
            for (int k = 0; k < m; k++)
                System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(bits.AsSpan(2 * k), Conversions.F32ToBf16(values[k]));
            sha.AppendData(bits, 0, 2 * m);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }

    public DecoderStack Stack => new(Embedding, Layers, FinalNorm, LmHead);

    public void Dispose()
    {
        foreach (WeightMatrix m in AllMatrices) m.Dispose();
        _store.Dispose();
    }
}
