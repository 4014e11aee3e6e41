using CtcDrafter.Speculative;

namespace CtcDrafter.Drafters;

/// <summary>Plain decoding expressed as a drafter that proposes nothing: every step verifies the root alone.</summary>
public sealed class NoDrafter : IDrafter
{
    public string Name => "vanilla";
    public void Reset() { }
    public IDrafter Spawn() => new NoDrafter();
    public void Observe(ReadOnlySpan<int> tokens, ReadOnlySpan<float> hidden) { }
    public DraftTree Propose(int root, int maxNodes) => new(root);
}
