using System.Text.Json;
using System.Text.Json.Nodes;

namespace CtcDrafter.Model;

/// <summary>
/// Writes a Hugging Face folder with random weights of a given shape: the fixture of loading tests and the
/// subject of engine benchmarks (weights scaled so activations stay in a realistic range).
/// </summary>
public static class RandomModel
{
    /// <param name="dtype">"F32", "F16" or "BF16" file dtype.</param>
    /// <param name="shards">Number of safetensors shards (1 = a single model.safetensors).</param>
    /// <exception cref="ArgumentException">The shape is invalid or needs more memory than the machine has.</exception>
    /// <exception cref="IOException"><paramref name="dir"/> exists and is not empty.</exception>
    public static void Write(string dir, ModelConfig c, string dtype = "F32", int shards = 1, ulong seed = 1)
    {
        try { c.Validate(); }
        catch (FormatException e) { throw new ArgumentException($"invalid model shape: {e.Message}", e); }
        // The weights are generated in memory (4 bytes a value) and encoded (up to 4 more) before they are written.
        long needed = c.ParameterCount * 8, available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (needed > available)
            throw new ArgumentException($"a model of {c.ParameterCount:N0} parameters needs about {needed >> 20:N0} MiB to write; {available >> 20:N0} MiB are available");
        FolderWriter.Write(dir, replace: false, tmp => WriteInto(tmp, c, dtype, shards, seed));
    }

    static void WriteInto(string dir, ModelConfig c, string dtype, int shards, ulong seed)
    {
        var rng = new Sampling.Rng(seed);
        float[] Random(long n, float scale)
        {
            var a = new float[n];
            for (long i = 0; i < n; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
            return a;
        }
        float[] Norm(int n)
        {
            var a = new float[n];
            for (int i = 0; i < n; i++) a[i] = 1f + (float)((rng.NextDouble() - 0.5) * 0.2);
            return a;
        }
        SafeTensorsWriter.Entry E(string name, int[] shape, float[] data) => SafeTensorsWriter.Encode(name, shape, data, dtype);
        int h = c.HiddenSize, f = c.IntermediateSize;
        float sh = 1f / MathF.Sqrt(h), sf = 1f / MathF.Sqrt(f), sq = 1f / MathF.Sqrt(c.QDim);
        var entries = new List<SafeTensorsWriter.Entry> { E("model.embed_tokens.weight", [c.VocabSize, h], Random((long)c.VocabSize * h, 1f)) };
        for (int l = 0; l < c.NumLayers; l++)
        {
            string p = $"model.layers.{l}.";
            entries.Add(E(p + "input_layernorm.weight", [h], Norm(h)));
            entries.Add(E(p + "self_attn.q_proj.weight", [c.QDim, h], Random((long)c.QDim * h, 2 * sh)));
            entries.Add(E(p + "self_attn.k_proj.weight", [c.KvDim, h], Random((long)c.KvDim * h, 2 * sh)));
            entries.Add(E(p + "self_attn.v_proj.weight", [c.KvDim, h], Random((long)c.KvDim * h, sh)));
            entries.Add(E(p + "self_attn.o_proj.weight", [h, c.QDim], Random((long)h * c.QDim, sq)));
            if (c.QkvBias)
            {
                entries.Add(E(p + "self_attn.q_proj.bias", [c.QDim], Random(c.QDim, 0.5f)));
                entries.Add(E(p + "self_attn.k_proj.bias", [c.KvDim], Random(c.KvDim, 0.5f)));
                entries.Add(E(p + "self_attn.v_proj.bias", [c.KvDim], Random(c.KvDim, 0.5f)));
            }
            entries.Add(E(p + "post_attention_layernorm.weight", [h], Norm(h)));
            entries.Add(E(p + "mlp.gate_proj.weight", [f, h], Random((long)f * h, sh)));
            entries.Add(E(p + "mlp.up_proj.weight", [f, h], Random((long)f * h, sh)));
            entries.Add(E(p + "mlp.down_proj.weight", [h, f], Random((long)h * f, sf)));
        }
        entries.Add(E("model.norm.weight", [h], Norm(h)));
        if (!c.TieWordEmbeddings) entries.Add(E("lm_head.weight", [c.VocabSize, h], Random((long)c.VocabSize * h, 4 * sh)));

        var meta = new Dictionary<string, string> { ["format"] = "pt" };
        if (shards <= 1) SafeTensorsWriter.Write(Path.Combine(dir, "model.safetensors"), entries, meta);
        else
        {
            var map = new JsonObject();
            int per = (entries.Count + shards - 1) / shards;
            for (int s = 0; s < shards; s++)
            {
                string file = $"model-{s + 1:D5}-of-{shards:D5}.safetensors";
                var part = entries.Skip(s * per).Take(per).ToList();
                foreach (var e in part) map[e.Name] = file;
                SafeTensorsWriter.Write(Path.Combine(dir, file), part, meta);
            }
            File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"),
                new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString());
        }
        File.WriteAllText(Path.Combine(dir, "config.json"), c.ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>A LLaMA config of the given shape (head dim 64 unless the width is smaller).</summary>
    public static ModelConfig Config(int hidden, int ffn, int layers, int heads, int kvHeads, int vocab, int context = 2048, bool tied = false) => new()
    {
        Architecture = "LlamaForCausalLM", HiddenSize = hidden, IntermediateSize = ffn, NumLayers = layers,
        NumHeads = heads, NumKvHeads = kvHeads, VocabSize = vocab, HeadDim = heads > 0 ? hidden / heads : 0,
        MaxPositionEmbeddings = context, TieWordEmbeddings = tied, RmsNormEps = 1e-5f,
    };
}
