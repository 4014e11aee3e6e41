using CtcDrafter.Training.Model;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Drafts;

/// <summary>
/// The draft module's decoder layer: a LLaMA layer without the input RMSNorm (attention reads the fc output
/// directly, as in the CTC-drafter and EAGLE code), residual, post-attention RMSNorm, SwiGLU MLP, residual.
/// </summary>
internal sealed class DraftDecoderLayer : nn.Module
{
    readonly LlamaAttention _attention;
    readonly RmsNorm _postAttentionNorm;
    readonly LlamaMlp _mlp;

    public DraftDecoderLayer(LlamaConfig config, RotaryEmbedding rope) : base(nameof(DraftDecoderLayer))
    {
        _attention = new LlamaAttention(config, rope);
        _postAttentionNorm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        _mlp = new LlamaMlp(config);
        register_module("self_attn", _attention);
        register_module("post_attention_layernorm", _postAttentionNorm);
        register_module("mlp", _mlp);
    }

    // Registered explicitly under Hugging Face's names (see LlamaForCausalLM).
    protected override void RegisterComponents() { }

    /// <summary>z [batch, seq, hidden] -> [batch, seq, hidden]; positions and mask as <see cref="LlamaAttention.Attend"/>.</summary>
    public Tensor Forward(Tensor z, Tensor? positions, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        var h = z + _attention.Attend(z, positions, mask);
        return (h + _mlp.forward(_postAttentionNorm.forward(h))).MoveToOuterDisposeScope();
    }
}
