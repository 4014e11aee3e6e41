using CtcDrafter.Model;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Drafts;

/// <summary>
/// The parts of the base model a draft module uses but never trains: the token embedding and the LM head (the
/// same tensor when tied), read from the engine's loaded base model so that training sees the values the engine
/// drafts with.
/// </summary>
internal sealed class FrozenBase : IDisposable
{
    FrozenBase(Tensor embedding, Tensor lmHead) => (Embedding, LmHead) = (embedding, lmHead);

    public Tensor Embedding { get; } // [vocab, hidden]
    public Tensor LmHead { get; }    // [vocab, hidden]
    public int VocabSize => (int)Embedding.shape[0];
    public int HiddenSize => (int)Embedding.shape[1];

    public static FrozenBase From(LlamaModel model)
    {
        var weights = model.Weights;
        var embedding = Read(weights.Embedding);
        return new FrozenBase(embedding, ReferenceEquals(weights.LmHead, weights.Embedding) ? embedding.alias() : Read(weights.LmHead));
    }

    static Tensor Read(Kernels.WeightMatrix m)
    {
        var values = new float[(long)m.Rows * m.Cols];
        for (int r = 0; r < m.Rows; r++) m.ReadRow(r, values.AsSpan(r * m.Cols, m.Cols));
        return tensor(values, [m.Rows, m.Cols]);
    }

    /// <summary>tokens [..] -> [.., hidden].</summary>
    public Tensor Embed(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        return Embedding.index_select(0, tokens.reshape(-1)).view([.. tokens.shape, HiddenSize]).MoveToOuterDisposeScope();
    }

    /// <summary>features [.., hidden] -> [.., vocab].</summary>
    public Tensor Logits(Tensor features) => nn.functional.linear(features, LmHead);

    /// <summary>The base model's greedy tokens from its hidden states: [.., hidden] -> [..] (int64).</summary>
    public Tensor Greedy(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return Logits(hidden).argmax(-1).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        Embedding.Dispose();
        LmHead.Dispose();
    }
}
