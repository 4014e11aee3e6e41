using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Model;

/// <summary>
/// A LLaMA causal language model computing what Hugging Face's <c>LlamaForCausalLM</c> computes, with the same
/// parameter names (<c>model.embed_tokens.weight</c>, <c>model.layers.{i}.self_attn.q_proj.weight</c>, ...,
/// <c>lm_head.weight</c> when not tied), so that its state dict is a Hugging Face checkpoint. Float32 only.
/// </summary>
internal sealed class LlamaForCausalLM : nn.Module<Tensor, (Tensor Logits, Tensor Hidden)>
{
    const double InitStd = 0.02;

    readonly LlamaDecoder _decoder;
    readonly Linear? _lmHead; // [vocab, hidden]; null when tied to the embedding

    /// <summary>Builds a model with weights drawn from torch's generator (seed it first for reproducibility).</summary>
    public LlamaForCausalLM(LlamaConfig config) : base(nameof(LlamaForCausalLM))
    {
        Config = config;
        _decoder = new LlamaDecoder(config);
        register_module("model", _decoder);
        if (!config.TieWordEmbeddings)
        {
            _lmHead = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false);
            register_module("lm_head", _lmHead);
        }
        Initialize();
    }

    // Components are registered explicitly under Hugging Face's names; TorchSharp's automatic registration
    // (by field name, run when a module is added to a parent) would add them a second time.
    protected override void RegisterComponents() { }

    public LlamaConfig Config { get; }

    /// <summary>ids [batch, seq] -> (logits [batch, seq, vocab], final post-norm hidden states [batch, seq, hidden]).</summary>
    public override (Tensor Logits, Tensor Hidden) forward(Tensor ids)
    {
        using var scope = NewDisposeScope();
        var hidden = _decoder.forward(ids);
        var logits = _lmHead is null
            ? nn.functional.linear(hidden, _decoder.Embedding.weight!)
            : _lmHead.forward(hidden);
        return (logits.MoveToOuterDisposeScope(), hidden.MoveToOuterDisposeScope());
    }

    // Hugging Face's initialisation (normal, std 0.02, norms at one), with GPT-2's scaling of the projections that
    // write into the residual stream by 1/sqrt(2 * layers), which keeps deep narrow models stable early on.
    void Initialize()
    {
        using var noGrad = no_grad();
        double residualStd = InitStd / Math.Sqrt(2.0 * Config.NumHiddenLayers);
        foreach (var (name, parameter) in named_parameters())
        {
            if (name.EndsWith("layernorm.weight", StringComparison.Ordinal) || name == "model.norm.weight") continue;
            bool residual = name.EndsWith("o_proj.weight", StringComparison.Ordinal) || name.EndsWith("down_proj.weight", StringComparison.Ordinal);
            nn.init.normal_(parameter, 0.0, residual ? residualStd : InitStd);
        }
    }
}
