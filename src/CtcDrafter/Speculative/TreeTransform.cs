using CtcDrafter.Drafters;

namespace CtcDrafter.Speculative;

/// <summary>
/// What a drafter's tree goes through between proposal and verification: nothing, or the CTC transform
/// (docs METHOD.md section 4), which removes blanks and repeats inside every path and closes the paths up
/// (<see cref="DraftTree.Collapse"/>). The result is an ordinary tree, verified like any other.
/// </summary>
public sealed class TreeTransform
{
    TreeTransform(CtcTransform mode, int? blank) => (Mode, Blank) = (mode, blank);

    /// <summary>The identity: the tree is verified as proposed.</summary>
    public static TreeTransform None { get; } = new(CtcTransform.None, null);

    /// <summary>The CTC transform of a draft whose blank class is <paramref name="blank"/>.</summary>
    public static TreeTransform Ctc(CtcTransform mode, int? blank) => mode == CtcTransform.None ? None : new(mode, blank);

    public CtcTransform Mode { get; }
    public int? Blank { get; }

    /// <summary>
    /// Nodes to ask of the drafter for a verification budget: the strict transform removes many of them (every
    /// blank and every repeat), so it gets twice the budget and the best nodes that survive are kept.
    /// </summary>
    public int DraftNodes(int budget) => Mode == CtcTransform.Strict ? 2 * budget : budget;

    /// <summary>The tree to verify: at most <paramref name="budget"/> nodes.</summary>
    public DraftTree Apply(DraftTree proposed, int budget) => Mode == CtcTransform.None
        ? proposed.Take(budget)
        : proposed.Collapse(Blank, keepRepeats: Mode == CtcTransform.KeepRepeats).Take(budget);
}
