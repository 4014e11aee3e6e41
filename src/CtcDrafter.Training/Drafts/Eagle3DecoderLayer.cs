using CtcDrafter.Training.Model;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Drafts;

/// <summary>
/// EAGLE-3's draft layer (<c>midlayer.*</c>): attention over [input_layernorm(token embedding); hidden_norm(x)] (2H)
/// with x as the residual, then post_attention_layernorm, the SwiGLU MLP and its residual; the engine's
/// <see cref="CtcDrafter.Drafters.Eagle3Draft"/> computes the same.
/// </summary>
internal sealed class Eagle3DecoderLayer : nn.Module
{
    readonly RmsNorm _inputNorm;
    readonly RmsNorm _hiddenNorm;
    readonly LlamaAttention _attention;
    readonly RmsNorm _postAttentionNorm;
    readonly LlamaMlp _mlp;

    public Eagle3DecoderLayer(LlamaConfig config, RotaryEmbedding rope) : base(nameof(Eagle3DecoderLayer))
    {
        int h = config.HiddenSize;
        _inputNorm = new RmsNorm(h, config.RmsNormEps);
        _hiddenNorm = new RmsNorm(h, config.RmsNormEps);
        _attention = new LlamaAttention(config, rope, inputSize: 2 * h);
        _postAttentionNorm = new RmsNorm(h, config.RmsNormEps);
        _mlp = new LlamaMlp(config);
        register_module("input_layernorm", _inputNorm);
        register_module("hidden_norm", _hiddenNorm);
        register_module("self_attn", _attention);
        register_module("post_attention_layernorm", _postAttentionNorm);
        register_module("mlp", _mlp);
    }

    // Registered explicitly under EAGLE-3's names.
    protected override void RegisterComponents() { }

    /// <summary>
    /// One step of the chains (<see cref="LlamaAttention.AttendSteps"/>): embeddings e and inputs x [b, rows, hidden]
    /// -> outputs [b, rows, hidden]. Its temporaries, like the keys and values it adds to <paramref name="steps"/>,
    /// belong to the caller's dispose scope.
    /// </summary>
    public Tensor Forward(Tensor e, Tensor x, Tensor anchors, List<(Tensor K, Tensor V)> steps)
    {
        var input = cat([_inputNorm.forward(e), _hiddenNorm.forward(x)], -1);
        var h = x + _attention.AttendSteps(input, anchors, steps);
        return h + _mlp.forward(_postAttentionNorm.forward(h));
    }
}
