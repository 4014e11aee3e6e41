using CtcDrafter.Drafters;
using CtcDrafter.Speculative;

namespace CtcDrafter.Tests.Speculative;

/// <summary>
/// Test drafter that knows the base model's true greedy continuation and proposes it with injected errors and
/// branches, so that deep trees, partial acceptance and rejected siblings are all exercised.
/// </summary>
sealed class OracleDrafter(int[] truth, int promptLength, int vocab, int seed, double errorRate = 0.2, int depth = 6, int branches = 2) : IDrafter
{
    readonly Random _rng = new(seed);
    int _committed;

    public string Name => "oracle";

    public void Reset() => _committed = 0;

    public IDrafter Spawn() => new OracleDrafter(truth, promptLength, vocab, seed, errorRate, depth, branches);

    public void Observe(ReadOnlySpan<int> tokens, ReadOnlySpan<float> hidden) => _committed += tokens.Length;

    public DraftTree Propose(int root, int maxNodes)
    {
        var tree = new DraftTree(root);
        // Output index of the token after the root: the root itself is output token _committed - promptLength.
        int next = _committed - promptLength + 1;
        int node = 0;
        for (int d = 0; d < depth && tree.Count < maxNodes; d++)
        {
            int k = next + d;
            int token = k < truth.Length && _rng.NextDouble() >= errorRate ? truth[k] : _rng.Next(vocab);
            for (int b = 1; b < branches && tree.Count < maxNodes - 1; b++) tree.Add(node, _rng.Next(vocab)); // decoy siblings
            if (tree.Count >= maxNodes) break;
            node = tree.Add(node, token);
        }
        return tree;
    }
}
