using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Model;

/// <summary>Causal self-attention with rotary positions and grouped key/value heads, no biases.</summary>
internal sealed class LlamaAttention : nn.Module<Tensor, Tensor>
{
    readonly Linear _q; // [heads * headDim, hidden]
    readonly Linear _k; // [kvHeads * headDim, hidden]
    readonly Linear _v; // [kvHeads * headDim, hidden]
    readonly Linear _o; // [hidden, heads * headDim]
    readonly RotaryEmbedding _rope;
    readonly int _heads, _kvHeads, _headDim;

    public LlamaAttention(LlamaConfig config, RotaryEmbedding rope) : base(nameof(LlamaAttention))
    {
        _heads = config.NumAttentionHeads;
        _kvHeads = config.NumKeyValueHeads;
        _headDim = config.HeadDim;
        _rope = rope;
        _q = nn.Linear(config.HiddenSize, _heads * _headDim, hasBias: false);
        _k = nn.Linear(config.HiddenSize, _kvHeads * _headDim, hasBias: false);
        _v = nn.Linear(config.HiddenSize, _kvHeads * _headDim, hasBias: false);
        _o = nn.Linear(_heads * _headDim, config.HiddenSize, hasBias: false);
        register_module("q_proj", _q);
        register_module("k_proj", _k);
        register_module("v_proj", _v);
        register_module("o_proj", _o);
    }

    // Registered explicitly under Hugging Face's names (see LlamaForCausalLM).
    protected override void RegisterComponents() { }

    /// <summary>Causal attention at positions 0..seq-1: x [batch, seq, hidden] -> [batch, seq, hidden].</summary>
    public override Tensor forward(Tensor x) => Attend(x, null, null);

    /// <summary>
    /// x [batch, seq, hidden] -> [batch, seq, hidden], token i at rotary position <c>positions[i]</c> (default i) and
    /// attending where <c>mask[i, j]</c> is true (mask [seq, seq] boolean; default causal).
    /// </summary>
    public Tensor Attend(Tensor x, Tensor? positions, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        long batch = x.shape[0], seq = x.shape[1];
        var q = _rope.Apply(_q.forward(x).view(batch, seq, _heads, _headDim).transpose(1, 2), positions);   // [b, heads, seq, d]
        var k = _rope.Apply(_k.forward(x).view(batch, seq, _kvHeads, _headDim).transpose(1, 2), positions); // [b, kvHeads, seq, d]
        var v = _v.forward(x).view(batch, seq, _kvHeads, _headDim).transpose(1, 2);              // [b, kvHeads, seq, d]
        if (_kvHeads != _heads)
        {
            // Query head h reads key/value head h / (heads / kvHeads), as Hugging Face's repeat_kv.
            k = k.repeat_interleave(_heads / _kvHeads, dim: 1);
            v = v.repeat_interleave(_heads / _kvHeads, dim: 1);
        }
        var attended = mask is null // [b, heads, seq, d]
            ? nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true)
            : nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask);
        var merged = attended.transpose(1, 2).reshape(batch, seq, _heads * _headDim);
        return _o.forward(merged).MoveToOuterDisposeScope();
    }
}
