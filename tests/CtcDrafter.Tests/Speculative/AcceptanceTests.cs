using CtcDrafter.Sampling;
using CtcDrafter.Speculative;

namespace CtcDrafter.Tests.Speculative;

/// <summary>
/// Lossless sampling on a toy model of 6 tokens whose next-token distribution depends on the previous token:
/// whatever the tree and the acceptance scheme, the tokens a step emits must follow the target distribution.
/// </summary>
public class AcceptanceTests
{
    const int V = 6, Draws = 100_000;

    // target[prev] = distribution of the next token after token prev.
    static readonly double[][] Target =
    [
        [0.30, 0.25, 0.20, 0.15, 0.07, 0.03],
        [0.05, 0.50, 0.05, 0.30, 0.05, 0.05],
        [0.40, 0.10, 0.10, 0.10, 0.10, 0.20],
        [0.10, 0.10, 0.40, 0.10, 0.20, 0.10],
        [0.16, 0.16, 0.17, 0.17, 0.17, 0.17],
        [0.01, 0.01, 0.01, 0.01, 0.01, 0.95],
    ];

    /// <summary>Logits of every tree node: log of the target distribution after the node's token.</summary>
    static float[] Logits(DraftTree tree)
    {
        var l = new float[tree.Count * V];
        for (int i = 0; i < tree.Count; i++)
            for (int v = 0; v < V; v++) l[i * V + v] = (float)Math.Log(Target[tree.Token(i)][v]);
        return l;
    }

    /// <summary>Draws the first two tokens of many steps; checks P(x1) and P(x2 | x1) for x1 whose second token the step decides.</summary>
    static void AssertLossless(Func<Random, DraftTree> makeTree, bool expectSecond)
    {
        var sampler = new Sampler(new SamplingOptions(Temperature: 1f, Seed: 1234));
        var first = new long[V];
        var second = new long[V][];
        for (int v = 0; v < V; v++) second[v] = new long[V];
        var rng = new Random(5);
        var p = new float[V];
        int root = -1;
        for (int draw = 0; draw < Draws; draw++)
        {
            DraftTree tree = makeTree(rng);
            root = tree.Root;
            Accepted a = Acceptance.Sample(tree, Logits(tree), V, sampler, p);
            int[] emitted = [.. a.Path.Skip(1).Select(tree.Token), a.Bonus];
            first[emitted[0]]++;
            if (emitted.Length > 1) second[emitted[0]][emitted[1]]++;
        }
        Assert.True(ChiSquare.Fits(first, Target[root], out string d1), "first token: " + d1);
        if (!expectSecond) return;
        for (int x = 0; x < V; x++)
            if (second[x].Sum() > 2000)
                Assert.True(ChiSquare.Fits(second[x], Target[x], out string d2), $"second token after {x}: " + d2);
    }

    [Fact]
    public void TargetMatchingOnAFixedTreeIsExact() => AssertLossless(_ =>
    {
        var t = new DraftTree(0);
        int a = t.Add(0, 1), b = t.Add(0, 2), c = t.Add(0, 5);
        t.Add(a, 3); t.Add(a, 1); t.Add(b, 0); t.Add(c, 5);
        return t;
    }, expectSecond: true);

    [Fact]
    public void TargetMatchingOnRandomTreesIsExact() => AssertLossless(rng =>
    {
        var t = new DraftTree(2);
        int n = rng.Next(8);
        for (int i = 0; i < n; i++)
        {
            int parent = rng.Next(t.Count), token = rng.Next(V);
            if (!t.Children(parent).Any(c => t.Token(c) == token)) t.Add(parent, token);
        }
        return t;
    }, expectSecond: true);

    /// <summary>A draft distribution that differs from the target: rejection sampling must correct it.</summary>
    static float[] Draft(int prev) => Enumerable.Range(0, V).Select(v => (float)((Target[(prev + 1) % V][v] + 0.1) / (1 + 0.1 * V))).ToArray();

    static int DrawFrom(float[] q, Random rng)
    {
        double u = rng.NextDouble(), c = 0;
        for (int i = 0; i < q.Length; i++) { c += q[i]; if (u < c) return i; }
        return q.Length - 1;
    }

    [Fact]
    public void GreedyAcceptsTheLongestAgreeingPathAndTheArgmaxBonus()
    {
        // argmax after each token t is (t + 1) % V.
        var logits = new float[8 * V];
        var t = new DraftTree(0);
        int a = t.Add(0, 1), b = t.Add(a, 2);
        t.Add(b, 4); // wrong after 2 (argmax 3)
        t.Add(0, 5); // wrong after 0
        t.Add(a, 3); // wrong after 1
        for (int i = 0; i < t.Count; i++) logits[i * V + (t.Token(i) + 1) % V] = 1;
        Accepted acc = Acceptance.Greedy(t, logits, V);
        Assert.Equal([0, a, b], acc.Path);
        Assert.Equal(3, acc.Bonus);
    }
}
