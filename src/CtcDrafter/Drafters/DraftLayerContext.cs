using CtcDrafter.Model;

namespace CtcDrafter.Drafters;

/// <summary>
/// The committed side of a chain draft and the vectors of one drafting step (docs METHOD.md section 2): draft
/// position j consumes the pair (base state at j, token j + 1). Committed pairs go through the draft layer once and
/// stay in its own KV cache; a step runs its tree's nodes after them in pending slots, which the next step overwrites.
/// A node is the root pair (the base state at the last committed token, and the root token) or a child pair (its
/// parent node's draft output, and its own token). <see cref="PairContext"/> is EAGLE-1's and CTC-drafter's
/// (fc over [embedding; feature] for every pair), <see cref="Eagle3Context"/> EAGLE-3's.
/// </summary>
internal abstract class DraftLayerContext
{
    /// <summary>The context of <paramref name="module"/>'s kind, with room for <paramref name="pendingSlots"/> vectors per step.</summary>
    public static DraftLayerContext For(DraftModule module, int pendingSlots) => module switch
    {
        FeatureLayerDraft eagle => new PairContext(eagle, pendingSlots),
        Eagle3Draft eagle3 => new Eagle3Context(eagle3, pendingSlots),
        _ => throw new ArgumentException($"a {module.Config.Kind.Name()} draft has no draft layer"),
    };

    /// <summary>The draft layer and its KV cache (the committed pairs).</summary>
    public abstract Transformer Layer { get; }

    /// <summary>Whether a token has been committed, so that a root pair exists.</summary>
    public abstract bool HasPending { get; }

    public abstract void Reset();

    /// <summary>Committed tokens with the base states the draft reads at each: [tokens, features * hidden].</summary>
    public abstract void Observe(ReadOnlySpan<int> tokens, ReadOnlySpan<float> features);

    /// <summary>Sets pending row <paramref name="row"/> to the root pair: the last committed base state and <paramref name="token"/>.</summary>
    public abstract void Root(int token, int row);

    /// <summary>Sets pending row <paramref name="row"/> to a child pair: its parent's draft output [hidden] and <paramref name="token"/>.</summary>
    public abstract void Child(int token, ReadOnlySpan<float> parentOutput, int row);

    /// <summary>
    /// Runs the first <paramref name="rows"/> pending rows through the draft layer into pending slots
    /// <paramref name="pendingOffset"/> on (tree attention: <paramref name="parents"/> are earlier pending slots or -1);
    /// their outputs are then <c>Layer.Hidden(rows)</c> [rows, hidden].
    /// </summary>
    public abstract void Run(int rows, ReadOnlySpan<int> positions, ReadOnlySpan<int> parents, int pendingOffset);

    /// <summary>The draft's logits over the base vocabulary for draft outputs <paramref name="outputs"/> [rows, hidden] into <paramref name="logits"/> [rows, vocab].</summary>
    public abstract void Logits(ReadOnlySpan<float> outputs, Span<float> logits, int rows);

    /// <summary>Whether the draft has an output row of its own for the CTC blank (class id = vocabulary size).</summary>
    public abstract bool HasOwnBlank { get; }

    /// <summary>The blank's logit for one draft output [hidden] (a draft with <see cref="HasOwnBlank"/>).</summary>
    public abstract float BlankLogit(ReadOnlySpan<float> output);
}
