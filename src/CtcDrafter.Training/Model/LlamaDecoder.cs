using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Model;

/// <summary>Hugging Face's <c>LlamaModel</c>: token embedding, the decoder layers and the final norm.</summary>
internal sealed class LlamaDecoder : nn.Module<Tensor, Tensor>
{
    readonly RotaryEmbedding _rope;
    readonly ModuleList<LlamaDecoderLayer> _layers;
    readonly RmsNorm _norm;

    public LlamaDecoder(LlamaConfig config) : base(nameof(LlamaDecoder))
    {
        Embedding = nn.Embedding(config.VocabSize, config.HiddenSize); // weight [vocab, hidden]
        _rope = new RotaryEmbedding(config.HeadDim, config.MaxPositionEmbeddings, config.RopeTheta);
        _layers = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new LlamaDecoderLayer(config, _rope)).ToArray());
        _norm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        register_module("embed_tokens", Embedding);
        register_module("rotary_emb", _rope);
        register_module("layers", _layers);
        register_module("norm", _norm);
    }

    // Registered explicitly under Hugging Face's names (see LlamaForCausalLM).
    protected override void RegisterComponents() { }

    public Embedding Embedding { get; }

    /// <summary>ids [batch, seq] -> final post-norm hidden states [batch, seq, hidden].</summary>
    public override Tensor forward(Tensor ids)
    {
        using var scope = NewDisposeScope();
        var x = Embedding.forward(ids);
        foreach (var layer in _layers) x = layer.forward(x);
        return _norm.forward(x).MoveToOuterDisposeScope();
    }
}
