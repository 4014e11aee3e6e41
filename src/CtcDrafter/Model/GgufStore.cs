using System.Text.RegularExpressions;
using CtcDrafter.Kernels;

namespace CtcDrafter.Model;

/// <summary>
/// The tensors of a GGUF file under their Hugging Face names (<c>blk.3.attn_q.weight</c> is
/// <c>model.layers.3.self_attn.q_proj.weight</c>), so that one weight loader serves both formats. llama.cpp's
/// converter permutes the rows of each head of a <c>llama</c> model's q/k weights for its interleaved RoPE (pairs
/// (x[2i], x[2i+1])); the engine rotates halves (x[i], x[i + d/2]) as Hugging Face does, so those rows are put back
/// in Hugging Face order here, whole rows at a time (a quantized row's blocks move with it). A name with no Hugging
/// Face equivalent keeps its GGUF name, and the loader refuses it as unread.
/// </summary>
internal sealed unsafe partial class GgufStore : TensorStore
{
    readonly GgufFile _file;
    readonly List<NativeBuffer> _owned = [];
    readonly Dictionary<string, string> _ggufName = new(StringComparer.Ordinal);

    public GgufStore(GgufFile file, ModelConfig config, bool interleavedQk) : base(file.Path)
    {
        _file = file;
        try
        {
            foreach (var (name, tensor) in file.Tensors)
            {
                string hf = HuggingFaceName(name);
                _ggufName[hf] = name;
                bool permute = interleavedQk && (hf.EndsWith(".self_attn.q_proj.weight", StringComparison.Ordinal)
                    || hf.EndsWith(".self_attn.k_proj.weight", StringComparison.Ordinal));
                int heads = hf.EndsWith("q_proj.weight", StringComparison.Ordinal) ? config.NumHeads : config.NumKvHeads;
                Add(hf, permute ? ToRotateHalf(tensor, heads) : tensor, file.Path);
            }
        }
        catch { Dispose(); throw; }
    }

    private protected override string ConfigSource => "the GGUF metadata";

    private protected override string Describe(string name) => _ggufName.GetValueOrDefault(name, name);

    static readonly (string Gguf, string Hf)[] LayerNames =
    [
        ("attn_norm", "input_layernorm"), ("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj"),
        ("attn_v", "self_attn.v_proj"), ("attn_output", "self_attn.o_proj"), ("ffn_norm", "post_attention_layernorm"),
        ("ffn_gate", "mlp.gate_proj"), ("ffn_up", "mlp.up_proj"), ("ffn_down", "mlp.down_proj"),
    ];

    [GeneratedRegex(@"^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$")]
    private static partial Regex LayerTensor();

    static string HuggingFaceName(string gguf)
    {
        switch (gguf)
        {
            case "token_embd.weight": return "model.embed_tokens.weight";
            case "output_norm.weight": return "model.norm.weight";
            case "output.weight": return "lm_head.weight";
        }
        Match m = LayerTensor().Match(gguf);
        if (!m.Success) return gguf;
        foreach (var (g, hf) in LayerNames)
            if (m.Groups[2].Value == g) return $"model.layers.{m.Groups[1].Value}.{hf}.{m.Groups[3].Value}";
        return gguf;
    }

    /// <summary>
    /// The rows of each head back in Hugging Face order: GGUF row 2i + j of a head is Hugging Face row j * d/2 + i
    /// (the inverse of convert_hf_to_gguf's <c>permute</c>). tensor: [heads * d, cols] in any row-wise type.
    /// </summary>
    RawTensor ToRotateHalf(in RawTensor tensor, int heads)
    {
        int rows = tensor.Shape[0];
        if (tensor.Shape.Length != 2 || heads <= 0 || rows % heads != 0 || rows / heads % 2 != 0)
            throw new ModelFormatException(_file.Path, $"tensor '{tensor.Name}' has shape [{string.Join(", ", tensor.Shape)}], which {heads} heads of even size cannot split");
        long rowBytes = tensor.ByteLength / rows;
        int d = rows / heads, half = d / 2;
        var buffer = new NativeBuffer(tensor.ByteLength);
        _owned.Add(buffer);
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++)
                for (int j = 0; j < 2; j++)
                {
                    long from = (long)(h * d + 2 * i + j) * rowBytes, to = (long)(h * d + j * half + i) * rowBytes;
                    Buffer.MemoryCopy(tensor.Data + from, buffer.Pointer + to, rowBytes, rowBytes);
                }
        return new RawTensor(tensor.Name, tensor.DType, tensor.Shape, buffer.Pointer);
    }

    public override void Release(string name) { }

    public override void Dispose()
    {
        foreach (var b in _owned) b.Dispose();
        _owned.Clear();
        _file.Dispose();
    }
}
