using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using CtcDrafter.Text;

namespace CtcDrafter.Model;

/// <summary>
/// Converts a llama2.c checkpoint ("legacy" version 0) and its tokenizer into a Hugging Face model folder.
/// </summary>
public static class Llama2CConverter
{
    /// <summary>Writes <paramref name="outDir"/> (config.json, model.safetensors, tokenizer.model, generation_config.json).</summary>
    /// <param name="fileDtype">"F32" (exact) or "BF16" / "F16" (half the size).</param>
    public static ModelConfig Convert(string checkpoint, string tokenizerBin, string outDir, string fileDtype = "F32")
    {
        if (!File.Exists(checkpoint)) throw new ModelFormatException(checkpoint, "file not found");
        if (!File.Exists(tokenizerBin)) throw new ModelFormatException(tokenizerBin, "file not found");
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new ModelFormatException(outDir, "output folder exists and is not empty");

        var info = new FileInfo(checkpoint);
        if (info.Length > Array.MaxLength) throw new ModelFormatException(checkpoint, $"{info.Length} bytes: checkpoints beyond 2 GB are not supported by this converter");
        byte[] bytes = File.ReadAllBytes(checkpoint);
        if (bytes.Length < 28) throw new ModelFormatException(checkpoint, "truncated: shorter than the 28-byte header");
        var hdr = MemoryMarshal.Cast<byte, int>(bytes.AsSpan(0, 28)).ToArray();
        int dim = hdr[0], hidden = hdr[1], layers = hdr[2], heads = hdr[3], kvHeads = hdr[4], seq = hdr[6];
        // The sign of the vocabulary size says whether the classifier is shared with the embedding.
        bool shared = hdr[5] > 0;
        int vocab = hdr[5] == int.MinValue ? 0 : Math.Abs(hdr[5]);
        if (dim <= 0 || hidden <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || vocab == 0 || seq <= 0 || dim % heads != 0 || heads % kvHeads != 0)
            throw new ModelFormatException(checkpoint, $"implausible header [{string.Join(", ", hdr)}] (not a llama2.c legacy checkpoint?)");
        int hd = dim / heads, kvDim = kvHeads * hd;
        var config = new ModelConfig
        {
            Architecture = "LlamaForCausalLM", HiddenSize = dim, IntermediateSize = hidden, NumLayers = layers,
            NumHeads = heads, NumKvHeads = kvHeads, VocabSize = vocab, HeadDim = hd, MaxPositionEmbeddings = seq,
            RmsNormEps = 1e-5f, RopeTheta = 10000f, TieWordEmbeddings = shared, BosTokenId = 1, EosTokenIds = [2],
        };
        try { config.Validate(); }
        catch (FormatException e) { throw new ModelFormatException(checkpoint, $"header [{string.Join(", ", hdr)}]: {e.Message}"); }
        Int128 expected = 28 + 4 * ((Int128)vocab * dim + layers * (2 * (Int128)dim + 2 * (Int128)dim * dim + 2 * (Int128)kvDim * dim + 3 * (Int128)hidden * dim)
            + dim + (Int128)seq * hd + (shared ? 0 : (Int128)vocab * dim));
        if (bytes.Length != expected)
            throw new ModelFormatException(checkpoint, $"size {bytes.Length} bytes, expected {expected} for the header's shapes (truncated or another format version)");
        var tokenizer = Llama2CTokenizerConverter.Read(tokenizerBin);
        if (tokenizer.Pieces.Length != vocab)
            throw new ModelFormatException(tokenizerBin, $"the tokenizer has {tokenizer.Pieces.Length} tokens but the checkpoint's vocabulary is {vocab}");

        float[] all = MemoryMarshal.Cast<byte, float>(bytes.AsSpan(28)).ToArray();
        int at = 0;
        float[] Take(long n) { var a = all.AsSpan(at, (int)n).ToArray(); at += (int)n; return a; }
        float[] emb = Take((long)vocab * dim), attnNorm = Take((long)layers * dim), wq = Take((long)layers * dim * dim),
            wk = Take((long)layers * kvDim * dim), wv = Take((long)layers * kvDim * dim), wo = Take((long)layers * dim * dim),
            ffnNorm = Take((long)layers * dim), w1 = Take((long)layers * hidden * dim), w2 = Take((long)layers * dim * hidden),
            w3 = Take((long)layers * hidden * dim), finalNorm = Take(dim);
        at += seq * hd; // legacy RoPE tables, recomputed by the engine
        float[]? cls = shared ? null : Take((long)vocab * dim);

        SafeTensorsWriter.Entry Tensor(string name, int[] shape, ReadOnlySpan<float> data) => SafeTensorsWriter.Encode(name, shape, data, fileDtype);
        var entries = new List<SafeTensorsWriter.Entry> { Tensor("model.embed_tokens.weight", [vocab, dim], emb) };
        for (int l = 0; l < layers; l++)
        {
            string p = $"model.layers.{l}.";
            ReadOnlySpan<float> Slice(float[] a, int rows, int cols) => a.AsSpan(l * rows * cols, rows * cols);
            entries.Add(Tensor(p + "input_layernorm.weight", [dim], attnNorm.AsSpan(l * dim, dim)));
            entries.Add(Tensor(p + "self_attn.q_proj.weight", [dim, dim], PermuteForRotateHalf(Slice(wq, dim, dim), heads, dim)));
            entries.Add(Tensor(p + "self_attn.k_proj.weight", [kvDim, dim], PermuteForRotateHalf(Slice(wk, kvDim, dim), kvHeads, dim)));
            entries.Add(Tensor(p + "self_attn.v_proj.weight", [kvDim, dim], Slice(wv, kvDim, dim)));
            entries.Add(Tensor(p + "self_attn.o_proj.weight", [dim, dim], Slice(wo, dim, dim)));
            entries.Add(Tensor(p + "post_attention_layernorm.weight", [dim], ffnNorm.AsSpan(l * dim, dim)));
            entries.Add(Tensor(p + "mlp.gate_proj.weight", [hidden, dim], Slice(w1, hidden, dim)));
            entries.Add(Tensor(p + "mlp.down_proj.weight", [dim, hidden], Slice(w2, dim, hidden)));
            entries.Add(Tensor(p + "mlp.up_proj.weight", [hidden, dim], Slice(w3, hidden, dim)));
        }
        entries.Add(Tensor("model.norm.weight", [dim], finalNorm));
        if (cls is not null) entries.Add(Tensor("lm_head.weight", [vocab, dim], cls));

        FolderWriter.Write(outDir, replace: false, tmp =>
        {
            SafeTensorsWriter.Write(Path.Combine(tmp, "model.safetensors"), entries, new Dictionary<string, string> { ["format"] = "pt" });
            var opts = new JsonSerializerOptions { WriteIndented = true };
            File.WriteAllText(Path.Combine(tmp, "config.json"), config.ToJson().ToJsonString(opts));
            File.WriteAllText(Path.Combine(tmp, "generation_config.json"),
                // llama2.c models separate stories with BOS and its sampler stops there: so does generation here.
                new JsonObject { ["bos_token_id"] = 1, ["eos_token_id"] = new JsonArray(2, 1), ["do_sample"] = false }.ToJsonString(opts));
            File.WriteAllBytes(Path.Combine(tmp, "tokenizer.model"), tokenizer.Serialize());
        });
        return config;
    }

    /// <summary>
    /// llama2.c rotates adjacent pairs (x[2i], x[2i+1]); Hugging Face LLaMA rotates halves (x[i], x[i+d/2]).
    /// Reordering the rows of each head of wq/wk from [pairs, 2] to [2, pairs] makes the two compute the same
    /// attention scores (the permutation of transformers' convert_llama_weights_to_hf.py).
    /// </summary>
    internal static float[] PermuteForRotateHalf(ReadOnlySpan<float> w, int heads, int cols)
    {
        int rows = w.Length / cols, hd = rows / heads, half = hd / 2;
        var r = new float[w.Length];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++)
                for (int j = 0; j < 2; j++)
                    w.Slice((h * hd + 2 * i + j) * cols, cols).CopyTo(r.AsSpan((h * hd + j * half + i) * cols, cols));
        return r;
    }
}
