using CtcDrafter.Kernels;
using CtcDrafter.Text;
using TensorType = CtcDrafter.Model.GgufWriter.TensorType;

namespace CtcDrafter.Model;

/// <summary>
/// Writes a Hugging Face LLaMA folder as a GGUF file llama.cpp runs, as its convert_hf_to_gguf.py would: tensors
/// renamed (blk.N.attn_q ...), the q/k rows of each head permuted for llama.cpp's interleaved RoPE, norms in F32 and
/// matrices in the chosen type (Q8_0 and Q4_0 by the reference quantizers; a row that is not whole 32-blocks stays
/// F32), the SentencePiece vocabulary as tokenizer.ggml.* metadata, the chat template, and Llama-3's RoPE scaling as
/// rope_freqs.weight. Architectures other than llama (and Mistral without a window), and vocabularies other than
/// SentencePiece, are refused by name.
/// </summary>
public static class GgufExporter
{
    /// <summary>File types by their command-line names.</summary>
    public static readonly IReadOnlyList<string> Types = ["f32", "f16", "q8_0", "q4_0"];

    /// <exception cref="ModelFormatException">The folder cannot be written as GGUF.</exception>
    public static void Export(string folder, string output, string type)
    {
        TensorType matrixType = type.ToLowerInvariant() switch
        {
            "f32" => TensorType.F32, "f16" => TensorType.F16, "q8_0" => TensorType.Q8_0, "q4_0" => TensorType.Q4_0,
            _ => throw new ArgumentException($"unknown --type '{type}' ({string.Join(", ", Types)})"),
        };
        ModelConfig c = ModelConfig.Load(Path.Combine(folder, "config.json"));
        if (c.Architecture is not ("LlamaForCausalLM" or "MistralForCausalLM") || c.SlidingWindow is not null && c.SlidingWindow < c.MaxPositionEmbeddings)
            throw new ModelFormatException(folder, $"{c.Architecture}{(c.SlidingWindow is null ? "" : " with a sliding window")} cannot be written as GGUF here (llama only)");
        string spm = Path.Combine(folder, "tokenizer.model");
        if (!File.Exists(spm)) throw new ModelFormatException(folder, "no tokenizer.model: GGUF export writes SentencePiece vocabularies only");
        SentencePieceModel vocab = SentencePieceModel.Parse(File.ReadAllBytes(spm), spm);
        if (vocab.Pieces.Length != c.VocabSize)
            throw new ModelFormatException(spm, $"{vocab.Pieces.Length} pieces for a vocabulary of {c.VocabSize}");
        string? template;
        try { template = TokenizerConfig.TryRead(folder)?.ChatTemplate; }
        catch (FormatException e) { throw new ModelFormatException(folder, e.Message); }

        var w = new GgufWriter();
        const string arch = "llama";
        w.Add("general.architecture", arch);
        w.Add("general.name", Path.GetFileName(Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar)));
        w.Add($"{arch}.context_length", (uint)c.MaxPositionEmbeddings);
        w.Add($"{arch}.embedding_length", (uint)c.HiddenSize);
        w.Add($"{arch}.block_count", (uint)c.NumLayers);
        w.Add($"{arch}.feed_forward_length", (uint)c.IntermediateSize);
        w.Add($"{arch}.rope.dimension_count", (uint)c.HeadDim);
        w.Add($"{arch}.attention.head_count", (uint)c.NumHeads);
        w.Add($"{arch}.attention.head_count_kv", (uint)c.NumKvHeads);
        w.Add($"{arch}.attention.layer_norm_rms_epsilon", c.RmsNormEps);
        w.Add($"{arch}.rope.freq_base", c.RopeTheta);
        if (c.HeadDim != c.HiddenSize / c.NumHeads)
        {
            w.Add($"{arch}.attention.key_length", (uint)c.HeadDim);
            w.Add($"{arch}.attention.value_length", (uint)c.HeadDim);
        }
        if (c.RopeScaling is { Type: "linear" } linear)
        {
            w.Add($"{arch}.rope.scaling.type", "linear");
            w.Add($"{arch}.rope.scaling.factor", linear.Factor);
        }
        w.Add("general.file_type", matrixType switch { TensorType.F32 => 0u, TensorType.F16 => 1u, TensorType.Q4_0 => 2u, _ => 7u });
        w.Add("tokenizer.ggml.model", "llama");
        w.Add("tokenizer.ggml.tokens", vocab.Pieces);
        w.Add("tokenizer.ggml.scores", vocab.Scores);
        w.Add("tokenizer.ggml.token_type", vocab.Types.Select(t => (int)t).ToArray());
        w.Add("tokenizer.ggml.bos_token_id", (uint)c.BosTokenId);
        w.Add("tokenizer.ggml.eos_token_id", (uint)c.EosTokenIds[0]);
        w.Add("tokenizer.ggml.unknown_token_id", (uint)Math.Max(0, Array.IndexOf(vocab.Pieces, vocab.UnkPiece)));
        w.Add("tokenizer.ggml.add_bos_token", true);
        w.Add("tokenizer.ggml.add_space_prefix", vocab.AddDummyPrefix);
        if (template is not null) w.Add("tokenizer.chat_template", template);

        using TensorStore store = TensorStore.Open(folder);
        int h = c.HiddenSize;
        void Matrix(string gguf, string hf, int rows, int cols, int permuteHeads = 0)
        {
            float[] values = ReadAll(store.Get(hf, rows, cols));
            if (permuteHeads > 0) values = Permute(values, rows, cols, permuteHeads);
            TensorType t = matrixType is TensorType.Q8_0 or TensorType.Q4_0 && cols % GgmlBlocks.BlockSize != 0 ? TensorType.F32 : matrixType;
            w.AddTensor(gguf, [rows, cols], t, Encode(values, t));
        }
        void Vector(string gguf, string hf, int n) =>
            w.AddTensor(gguf, [n], TensorType.F32, Encode(store.GetVector(hf, n), TensorType.F32));

        Matrix("token_embd.weight", "model.embed_tokens.weight", c.VocabSize, h);
        if (c.RopeScaling is { Type: "llama3" })
        {
            float[] scaled = c.InverseFrequencies(), unscaled = RopeScaling.BaseInverseFrequencies(c.HeadDim, c.RopeTheta);
            w.AddTensor(GgufModel.RopeFreqsTensor, [c.HeadDim / 2], TensorType.F32,
                Encode([.. unscaled.Select((u, i) => u / scaled[i])], TensorType.F32));
        }
        for (int l = 0; l < c.NumLayers; l++)
        {
            string p = $"model.layers.{l}.", b = $"blk.{l}.";
            Vector(b + "attn_norm.weight", p + "input_layernorm.weight", h);
            Matrix(b + "attn_q.weight", p + "self_attn.q_proj.weight", c.QDim, h, c.NumHeads);
            Matrix(b + "attn_k.weight", p + "self_attn.k_proj.weight", c.KvDim, h, c.NumKvHeads);
            Matrix(b + "attn_v.weight", p + "self_attn.v_proj.weight", c.KvDim, h);
            Matrix(b + "attn_output.weight", p + "self_attn.o_proj.weight", h, c.QDim);
            Vector(b + "ffn_norm.weight", p + "post_attention_layernorm.weight", h);
            Matrix(b + "ffn_gate.weight", p + "mlp.gate_proj.weight", c.IntermediateSize, h);
            Matrix(b + "ffn_up.weight", p + "mlp.up_proj.weight", c.IntermediateSize, h);
            Matrix(b + "ffn_down.weight", p + "mlp.down_proj.weight", h, c.IntermediateSize);
        }
        Vector("output_norm.weight", "model.norm.weight", h);
        if (!c.TieWordEmbeddings) Matrix("output.weight", "lm_head.weight", c.VocabSize, h);
        try { w.Write(output); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFormatException(output, $"cannot write the file: {e.Message}");
        }
    }

    static float[] ReadAll(in RawTensor t)
    {
        var values = new float[t.Elements];
        Conversions.ReadF32(t, 0, values);
        return values;
    }

    /// <summary>convert_hf_to_gguf's permute: row j * d/2 + i of a head (rotate-half) becomes row 2i + j (interleaved).</summary>
    static float[] Permute(float[] w, int rows, int cols, int heads)
    {
        var result = new float[w.Length];
        int d = rows / heads, half = d / 2;
        for (int hd = 0; hd < heads; hd++)
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < half; i++)
                    Array.Copy(w, (long)(hd * d + j * half + i) * cols, result, (long)(hd * d + 2 * i + j) * cols, cols);
        return result;
    }

    static byte[] Encode(float[] values, TensorType type)
    {
        switch (type)
        {
            case TensorType.F32:
            {
                var bytes = new byte[values.Length * 4];
                Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
                return bytes;
            }
            case TensorType.F16:
            {
                var bytes = new byte[values.Length * 2];
                for (int i = 0; i < values.Length; i++) BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), BitConverter.HalfToUInt16Bits((Half)values[i]));
                return bytes;
            }
            default:
            {
                int blockBytes = type == TensorType.Q8_0 ? GgmlBlocks.Q8_0Bytes : GgmlBlocks.Q4_0Bytes;
                var bytes = new byte[values.Length / GgmlBlocks.BlockSize * blockBytes];
                for (int b = 0; b < values.Length / GgmlBlocks.BlockSize; b++)
                {
                    var block = values.AsSpan(b * GgmlBlocks.BlockSize, GgmlBlocks.BlockSize);
                    var dst = bytes.AsSpan(b * blockBytes, blockBytes);
                    if (type == TensorType.Q8_0) GgmlBlocks.QuantizeQ8_0(block, dst);
                    else GgmlBlocks.QuantizeQ4_0(block, dst);
                }
                return bytes;
            }
        }
    }
}
