using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Model;

/// <summary>Causal self-attention with rotary positions and grouped key/value heads, no biases.</summary>
internal sealed class LlamaAttention : nn.Module<Tensor, Tensor>
{
    readonly Linear _q; // [heads * headDim, input]
    readonly Linear _k; // [kvHeads * headDim, input]
    readonly Linear _v; // [kvHeads * headDim, input]
    readonly Linear _o; // [hidden, heads * headDim]
    readonly RotaryEmbedding _rope;
    readonly int _heads, _kvHeads, _headDim;

    /// <param name="config">The layer's shape: hidden size, heads, key/value heads.</param>
    /// <param name="rope">The rotary tables.</param>
    /// <param name="inputSize">The width of the attention's input: the hidden size, or 2 * hidden for EAGLE-3's draft layer.</param>
    public LlamaAttention(LlamaConfig config, RotaryEmbedding rope, int? inputSize = null) : base(nameof(LlamaAttention))
    {
        int input = inputSize ?? config.HiddenSize;
        _heads = config.NumAttentionHeads;
        _kvHeads = config.NumKeyValueHeads;
        _headDim = config.HeadDim;
        _rope = rope;
        _q = nn.Linear(input, _heads * _headDim, hasBias: false);
        _k = nn.Linear(input, _kvHeads * _headDim, hasBias: false);
        _v = nn.Linear(input, _kvHeads * _headDim, hasBias: false);
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
        var (q, k, v) = Project(x, positions);
        var attended = mask is null // [b, heads, seq, d]
            ? nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true)
            : nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask);
        return Output(attended).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// One step of the chains a draft grows from many positions at once (EAGLE-3's training-time test). Step 0,
    /// x [b, n, input] over every pair at positions 0..n-1, is causal attention over itself. Step s > 0,
    /// x [b, A, input], holds row a of the chain from pair <paramref name="anchors"/>[b, a] at rotary position
    /// anchor + s; it attends to step 0's rows 0..anchor (the real pairs up to its chain's start) and to its own
    /// chain's rows of steps 1..s, itself included, as a tree node attends to the committed pairs, the root and its
    /// ancestors. <paramref name="steps"/> holds the keys and values of the earlier steps (step 0's [b, heads, n, d],
    /// later ones [b, heads, A, d]) and receives this step's, in the caller's dispose scope.
    /// </summary>
    public Tensor AttendSteps(Tensor x, Tensor anchors, List<(Tensor K, Tensor V)> steps)
    {
        using var scope = NewDisposeScope();
        int s = steps.Count;
        Tensor attended; // [b, heads, rows, d]
        Tensor k, v;
        if (s == 0)
        {
            Tensor q;
            (q, k, v) = Project(x, null);
            attended = nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true);
        }
        else
        {
            Tensor q;
            (q, k, v) = Project(x, anchors + s);
            var (k0, v0) = steps[0];
            long n = k0.shape[2];
            double scale = 1.0 / Math.Sqrt(_headDim);
            var beyond = (arange(n, int64).view(1, 1, 1, n) > anchors.unsqueeze(1).unsqueeze(-1));                // [b, 1, A, n]
            var real = matmul(q, k0.transpose(-2, -1)).mul(scale).masked_fill(beyond, double.NegativeInfinity); // [b, heads, A, n]
            var ownK = stack([.. steps.Skip(1).Select(p => p.K), k], -2);                                        // [b, heads, A, s, d]
            var ownV = stack([.. steps.Skip(1).Select(p => p.V), v], -2);                                        // [b, heads, A, s, d]
            var own = matmul(ownK, q.unsqueeze(-1)).squeeze(-1).mul(scale);                                       // [b, heads, A, s]
            var p = cat([real, own], -1).softmax(-1);
            attended = matmul(p.narrow(-1, 0, n), v0) + matmul(p.narrow(-1, n, s).unsqueeze(-2), ownV).squeeze(-2);
        }
        var output = Output(attended).MoveToOuterDisposeScope();
        steps.Add((k.MoveToOuterDisposeScope(), v.MoveToOuterDisposeScope()));
        return output;
    }

    /// <summary>x [b, seq, input] -> rotated queries [b, heads, seq, d], rotated keys and values repeated to every query head.</summary>
    (Tensor Q, Tensor K, Tensor V) Project(Tensor x, Tensor? positions)
    {
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
        return (q, k, v);
    }

    /// <summary>attended [b, heads, seq, d] -> o_proj of the merged heads [b, seq, hidden].</summary>
    Tensor Output(Tensor attended)
    {
        long batch = attended.shape[0], seq = attended.shape[2];
        return _o.forward(attended.transpose(1, 2).reshape(batch, seq, _heads * _headDim));
    }
}
