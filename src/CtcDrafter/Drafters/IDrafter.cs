using CtcDrafter.Speculative;

namespace CtcDrafter.Drafters;

/// <summary>
/// Proposes candidate continuations for the base model to verify. A drafter follows one sequence: the generator
/// resets it, shows it every committed token with the base model's states at that token (the final hidden state,
/// or the layers <see cref="Features"/> names), and asks it for a tree under each new root.
/// </summary>
public interface IDrafter
{
    /// <summary>Method name reported in statistics (e.g. "prompt-lookup").</summary>
    string Name { get; }

    /// <summary>Starts a new sequence.</summary>
    void Reset();

    /// <summary>
    /// The base states <see cref="Observe"/> receives per token (<see cref="Model.BaseFeatures"/>): the final post-norm
    /// hidden state unless the drafter reads other layers (EAGLE-3).
    /// </summary>
    IReadOnlyList<int> Features => Model.BaseFeatures.FinalOnly;

    /// <summary>
    /// Committed tokens, in order, with the base model's states at each, the <see cref="Features"/> one after another:
    /// [tokens.Length, Features.Count * hidden].
    /// </summary>
    void Observe(ReadOnlySpan<int> tokens, ReadOnlySpan<float> hidden);

    /// <summary>A tree of at most <paramref name="maxNodes"/> nodes (root included) under the pending root token.</summary>
    DraftTree Propose(int root, int maxNodes);

    /// <summary>
    /// A new drafter of the same method over the same draft weights, for another sequence (batched decoding runs
    /// one per sequence; the weights are shared, the sequence state is not).
    /// </summary>
    IDrafter Spawn();

    /// <summary>What the proposed tree goes through before verification (the CTC transform for CTC drafts).</summary>
    TreeTransform Transform => TreeTransform.None;
}
