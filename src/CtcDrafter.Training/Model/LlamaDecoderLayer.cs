using TorchSharp;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Model;

/// <summary>One pre-norm transformer block: attention and MLP, each added to the residual stream.</summary>
internal sealed class LlamaDecoderLayer : nn.Module<Tensor, Tensor>
{
    readonly RmsNorm _inputNorm;
    readonly LlamaAttention _attention;
    readonly RmsNorm _postAttentionNorm;
    readonly LlamaMlp _mlp;

    public LlamaDecoderLayer(LlamaConfig config, RotaryEmbedding rope) : base(nameof(LlamaDecoderLayer))
    {
        _inputNorm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        _attention = new LlamaAttention(config, rope);
        _postAttentionNorm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        _mlp = new LlamaMlp(config);
        register_module("input_layernorm", _inputNorm);
        register_module("self_attn", _attention);
        register_module("post_attention_layernorm", _postAttentionNorm);
        register_module("mlp", _mlp);
    }

    // Registered explicitly under Hugging Face's names (see LlamaForCausalLM).
    protected override void RegisterComponents() { }

    /// <summary>x [batch, seq, hidden] -> [batch, seq, hidden].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = x + _attention.forward(_inputNorm.forward(x));
        return (h + _mlp.forward(_postAttentionNorm.forward(h))).MoveToOuterDisposeScope();
    }
}
