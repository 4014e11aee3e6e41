using CtcDrafter.Speculative;

namespace CtcDrafter.Tests.Speculative;

public class CtcPrefixBeamSearchTests
{
    const int V = 3, Blank = V; // tokens 0, 1, 2 and the blank 3

    /// <summary>F frames of random probabilities over all V + 1 symbols, in shuffled symbol order.</summary>
    static DepthDistribution[] RandomFrames(int seed, int f)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, f).Select(_ =>
        {
            int[] symbols = [.. Enumerable.Range(0, V + 1).OrderBy(_ => rng.Next())];
            float[] weights = [.. symbols.Select(_ => (float)rng.NextDouble() + 0.01f)];
            float sum = weights.Sum();
            return new DepthDistribution(symbols, [.. weights.Select(w => w / sum)]);
        }).ToArray();
    }

    static string Key(IEnumerable<int> tokens) => string.Join(" ", tokens);

    /// <summary>
    /// Every frame path over each frame's <paramref name="k"/> most likely symbols, collapsed (runs merged, then
    /// blanks dropped) and summed per output: the exact answer, sorted best first.
    /// </summary>
    static List<(string Prefix, double Prob)> BruteForce(DepthDistribution[] frames, int k)
    {
        var top = frames.Select(fr => fr.Tokens.Zip(fr.Probs).OrderByDescending(e => e.Second).Take(k).ToArray()).ToArray();
        var sums = new Dictionary<string, double>();
        void Walk(int t, List<int> path, double p)
        {
            if (t == frames.Length)
            {
                var collapsed = path.Where((s, i) => i == 0 || s != path[i - 1]).Where(s => s != Blank);
                sums[Key(collapsed)] = sums.GetValueOrDefault(Key(collapsed)) + p;
                return;
            }
            foreach (var (s, q) in top[t])
            {
                path.Add(s);
                Walk(t + 1, path, p * q);
                path.RemoveAt(path.Count - 1);
            }
        }
        Walk(0, [], 1);
        return [.. sums.Select(e => (e.Key, e.Value)).OrderByDescending(e => e.Value)];
    }

    static DepthDistribution Frame(params (int Symbol, float Prob)[] entries) =>
        new([.. entries.Select(e => e.Symbol)], [.. entries.Select(e => e.Prob)]);

    [Theory]
    [InlineData(1, V + 1)]
    [InlineData(2, V + 1)]
    [InlineData(3, 2)] // top-2 per frame: the reference reads the same two symbols
    [InlineData(4, 3)]
    public void AWideBeamIsExactAgainstEveryFramePath(int seed, int k)
    {
        var frames = RandomFrames(seed, 4);
        var expected = BruteForce(frames, k);
        var found = CtcPrefixBeamSearch.Search(frames, Blank, beamWidth: 1000, topK: k);

        Assert.Equal(expected.Select(e => e.Prefix), found.Select(p => Key(p.Tokens)));
        foreach (var (e, p) in expected.Zip(found))
            Assert.True(Math.Abs(e.Prob - p.Probability) < 1e-9, $"'{e.Prefix}': {p.Probability} vs {e.Prob}");
        if (k < V + 1) return;
        Assert.Equal(1, found.Sum(p => p.Probability), 1e-6);
        Assert.Contains(found, p => p.Tokens.Length == 0); // all blank is an output too
    }

    [Fact]
    public void ARepeatMergesUnlessABlankSeparatesIt()
    {
        const int a = 1;
        var merged = CtcPrefixBeamSearch.Search([Frame((a, 0.5f)), Frame((a, 0.25f))], Blank, 8, 8);
        var p = Assert.Single(merged);
        Assert.Equal([a], p.Tokens);
        Assert.Equal(0.125, p.Probability, 1e-12);

        var separated = CtcPrefixBeamSearch.Search([Frame((a, 1f)), Frame((Blank, 1f)), Frame((a, 1f))], Blank, 8, 8);
        Assert.Equal([a, a], Assert.Single(separated).Tokens);

        // "a a" and "a _" both give "a"; "_ a" gives "a" too; "_ _" gives the empty output.
        var mixed = CtcPrefixBeamSearch.Search([Frame((a, 0.5f), (Blank, 0.5f)), Frame((a, 0.5f), (Blank, 0.5f))], Blank, 8, 8);
        Assert.Equal(["1", ""], mixed.Select(x => Key(x.Tokens)));
        Assert.Equal([0.75, 0.25], mixed.Select(x => x.Probability));
    }

    [Fact]
    public void NoFramesGiveTheEmptyOutput()
    {
        var p = Assert.Single(CtcPrefixBeamSearch.Search([], Blank, 4, 4));
        Assert.Empty(p.Tokens);
        Assert.Equal(1, p.Probability);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void ANarrowBeamKeepsAtMostItsWidthAndFindsTheBestOnAnEasyCase(int beam)
    {
        // Peaked frames: "0 1" is by far the likeliest output.
        DepthDistribution[] frames =
        [
            Frame((0, 0.8f), (Blank, 0.15f), (1, 0.05f)),
            Frame((Blank, 0.7f), (0, 0.2f), (2, 0.1f)),
            Frame((1, 0.9f), (Blank, 0.1f)),
            Frame((1, 0.6f), (Blank, 0.3f), (2, 0.1f)),
        ];
        var found = CtcPrefixBeamSearch.Search(frames, Blank, beam, topK: V + 1);
        var best = BruteForce(frames, V + 1)[0];
        Assert.InRange(found.Count, 1, beam);
        Assert.Equal("0 1", best.Prefix);
        Assert.Equal(best.Prefix, Key(found[0].Tokens));
        Assert.True(found[0].Probability <= best.Prob + 1e-12); // pruned paths can only lower it
    }

    /// <summary>Connected (parents first, depth = parent's + 1), distinct sibling tokens, within the budget.</summary>
    static void AssertWellFormed(DraftTree t, int maxNodes)
    {
        Assert.InRange(t.Count, 1, Math.Max(1, maxNodes));
        for (int i = 1; i < t.Count; i++)
        {
            Assert.InRange(t.Parent(i), 0, i - 1);
            Assert.Equal(t.Depth(t.Parent(i)) + 1, t.Depth(i));
        }
        for (int node = 0; node < t.Count; node++)
        {
            var tokens = t.Children(node).Select(t.Token).ToList();
            Assert.Equal(tokens.Count, tokens.Distinct().Count());
        }
    }

    static string PathKey(DraftTree t, int node) => Key(t.PathTo(node).Skip(1).Select(t.Token));

    [Theory]
    [InlineData(5)]
    [InlineData(6)]
    public void TheTreeHoldsTheBestPrefixesWithinTheBudget(int seed)
    {
        const int root = 7;
        var prefixes = CtcPrefixBeamSearch.Search(RandomFrames(seed, 4), Blank, beamWidth: 12, topK: 3);
        var starts = prefixes.SelectMany(p => Enumerable.Range(1, p.Tokens.Length).Select(n => Key(p.Tokens.Take(n)))).ToHashSet();
        for (int budget = 0; budget <= starts.Count + 2; budget++)
        {
            var t = CtcPrefixBeamSearch.Tree(root, prefixes, budget);
            AssertWellFormed(t, budget);
            Assert.Equal(root, t.Root);
            Assert.Equal(Math.Clamp(budget, 1, starts.Count + 1), t.Count); // spends the budget, no node twice
            var paths = Enumerable.Range(1, t.Count - 1).Select(i => PathKey(t, i)).ToList();
            Assert.All(paths, p => Assert.Contains(p, starts));
            var best = prefixes.First(p => p.Tokens.Length > 0).Tokens;
            if (budget >= best.Length + 1) Assert.Contains(Key(best), paths);
        }
    }

    [Fact]
    public void TreeNodesFollowTheirBestPrefixNotTheMassOfAStem()
    {
        // A sum over prefixes would take the shared stem 3 first (0.5); the best prefix "0 1 2" (0.3) comes whole.
        CtcPrefix[] prefixes = [new([3, 4], 0.25), new([0, 1, 2], 0.3), new([3, 5], 0.25), new([], 0.2)];
        var t = CtcPrefixBeamSearch.Tree(9, prefixes, 4);
        Assert.Equal(["0", "0 1", "0 1 2"], Enumerable.Range(1, 3).Select(i => PathKey(t, i)));
        var t6 = CtcPrefixBeamSearch.Tree(9, prefixes, 6);
        Assert.Equal(["0", "0 1", "0 1 2", "3", "3 4"], Enumerable.Range(1, 5).Select(i => PathKey(t6, i)));
    }

    [Fact]
    public void AFirstTokenEqualToTheRootIsKeptAndABudgetOfOneIsTheRoot()
    {
        CtcPrefix[] prefixes = [new([5, 5, 6], 0.6), new([5, 2], 0.4)];
        var t = CtcPrefixBeamSearch.Tree(5, prefixes, 10);
        Assert.Equal([5, 5, 5, 6, 2], t.Tokens);
        Assert.Equal([-1, 0, 1, 2, 1], t.Parents);
        var one = CtcPrefixBeamSearch.Tree(5, prefixes, 1);
        Assert.Equal(1, one.Count);
        Assert.Equal(5, one.Root);
    }

    [Fact]
    public void BadInputIsRefusedNamingTheProblem()
    {
        var good = RandomFrames(1, 2);
        var e = Assert.Throws<ArgumentException>(() =>
            CtcPrefixBeamSearch.Search([good[0], new DepthDistribution([0, 1, Blank], [0.5f, 0.5f])], Blank, 4, 4));
        Assert.Contains("frame 1 has 3 symbols but 2 probabilities", e.Message);
        Assert.Equal("frames", e.ParamName);

        var beam = Assert.ThrowsAny<ArgumentException>(() => CtcPrefixBeamSearch.Search(good, Blank, 0, 4));
        Assert.Equal("beamWidth", beam.ParamName);
        Assert.Equal("topK", Assert.ThrowsAny<ArgumentException>(() => CtcPrefixBeamSearch.Search(good, Blank, 4, 0)).ParamName);

        Assert.Contains("symbol 4 outside 0..3", Assert.Throws<ArgumentException>(() =>
            CtcPrefixBeamSearch.Search([Frame((4, 1f))], Blank, 4, 4)).Message);
        Assert.Contains("symbol 1 twice", Assert.Throws<ArgumentException>(() =>
            CtcPrefixBeamSearch.Search([Frame((1, 0.5f), (1, 0.5f))], Blank, 4, 4)).Message);
        Assert.Contains("probability NaN", Assert.Throws<ArgumentException>(() =>
            CtcPrefixBeamSearch.Search([Frame((1, float.NaN))], Blank, 4, 4)).Message);
    }
}
