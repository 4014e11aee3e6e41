using CtcDrafter.Speculative;

namespace CtcDrafter.Tests.Speculative;

public class DraftTreeTests
{
    const int Blank = 0;

    /// <summary>Root-to-leaf token sequences of a tree (root token excluded), sorted.</summary>
    static List<string> Paths(DraftTree t) => Enumerable.Range(0, t.Count)
        .Where(i => !t.Children(i).Any())
        .Select(i => string.Join(" ", t.PathTo(i).Skip(1).Select(t.Token)))
        .Order().ToList();

    static void AssertConsistent(DraftTree t)
    {
        for (int i = 1; i < t.Count; i++)
        {
            Assert.True(t.Parent(i) < i);
            Assert.Equal(t.Depth(t.Parent(i)) + 1, t.Depth(i));
        }
        var (_, positions, parents) = t.ForwardInputs(100);
        Assert.Equal(t.Depths.Select(d => 100 + d), positions);
        Assert.Equal(t.Parents, parents);
        foreach (int node in Enumerable.Range(0, t.Count))
        {
            var siblings = t.Children(node).Select(t.Token).ToList();
            Assert.Equal(siblings.Count, siblings.Distinct().Count());
        }
    }

    [Fact]
    public void RepeatsAndBlanksCloseUpInsideAPath()
    {
        var t = new DraftTree(9);
        int a = t.Add(0, 5), b = t.Add(a, 5), c = t.Add(b, Blank), d = t.Add(c, 5), e = t.Add(d, 7);
        var r = t.Collapse(Blank);
        // CTC: frames 5 5 _ 5 7 collapse to 5 5 7 (the blank separates the two 5s).
        Assert.Equal(["5 5 7"], Paths(r));
        Assert.Equal(4, r.Count);
        Assert.Equal([0, 1, 2, 3], r.Depths);
        AssertConsistent(r);
        Assert.True(e > a);
    }

    [Fact]
    public void ADepthOneTokenEqualToTheRootIsKept()
    {
        var t = new DraftTree(5);
        t.Add(t.Add(0, 5), 6);
        Assert.Equal(["5 6"], Paths(t.Collapse(Blank)));
    }

    [Fact]
    public void SiblingsThatBecomeIdenticalAreMergedWithTheirSubtrees()
    {
        var t = new DraftTree(1);
        int a = t.Add(0, 4);
        int a1 = t.Add(a, 4);       // repeat: removed, children move up under a
        t.Add(a1, 8);
        t.Add(a1, 9);
        t.Add(a, 8);                // sibling of the moved 8: merged
        int a2 = t.Add(a, Blank);
        t.Add(t.Add(a2, 9), 3);     // 9 under a blank: merged with the moved 9, its child 3 kept
        var r = t.Collapse(Blank);
        Assert.Equal(["4 8", "4 9 3"], Paths(r));
        Assert.Equal(5, r.Count);
        AssertConsistent(r);
    }

    [Fact]
    public void CollapseOfRandomTreesMatchesPathwiseCtcCollapse() =>
        // Every root-to-node path of the original collapses (CTC rule) to a root-to-node path of the result,
        // and every path of the result comes from one of the original.
        AssertRandomTreesTransformPathwise(42, t => t.Collapse(Blank), frames => [CtcCollapse(frames)]);

    /// <summary>
    /// On 300 random trees (tokens 0..3, 0 = blank): the root-to-node paths of <paramref name="transform"/>'s
    /// result are exactly the non-empty <paramref name="readings"/> of the original's root-to-node paths.
    /// </summary>
    static void AssertRandomTreesTransformPathwise(int seed, Func<DraftTree, DraftTree> transform, Func<int[], IEnumerable<int[]>> readings)
    {
        var rng = new Random(seed);
        for (int trial = 0; trial < 300; trial++)
        {
            var t = new DraftTree(rng.Next(4));
            int n = 1 + rng.Next(25);
            for (int i = 0; i < n; i++) t.Add(rng.Next(t.Count), rng.Next(4));
            var r = transform(t);
            AssertConsistent(r);
            var expected = Enumerable.Range(1, t.Count - 1).SelectMany(i => readings(t.PathTo(i).Skip(1).Select(t.Token).ToArray()))
                .Where(p => p.Length > 0).Select(p => string.Join(" ", p)).ToHashSet();
            var actual = Enumerable.Range(1, r.Count - 1).Select(i => string.Join(" ", r.PathTo(i).Skip(1).Select(r.Token))).ToHashSet();
            Assert.Equal(expected.Order(), actual.Order());
        }
    }

    [Fact]
    public void KeepingRepeatsAlsoProposesTheDoubledToken()
    {
        var t = new DraftTree(9);
        int a = t.Add(0, 1), b = t.Add(a, 0 + 2), c = t.Add(b, 2), d = t.Add(c, 3); // frames 1 2 2 3
        Assert.Equal(["1 2 3"], Paths(t.Collapse(Blank)));
        var r = t.Collapse(Blank, keepRepeats: true);
        Assert.Equal(["1 2 2 3", "1 2 3"], Paths(r)); // "100" is three tokens 1 0 0: the strict transform can never propose it
        AssertConsistent(r);
    }

    [Fact]
    public void KeepingRepeatsOfRandomTreesGivesEveryReadingOfEveryPath() =>
        AssertRandomTreesTransformPathwise(7, t => t.Collapse(Blank, keepRepeats: true), Readings);

    /// <summary>Every reading of a frame sequence: blanks dropped, each repeat of the previous frame dropped or kept.</summary>
    static IEnumerable<int[]> Readings(int[] frames)
    {
        IEnumerable<int[]> readings = [[]];
        for (int i = 0; i < frames.Length; i++)
        {
            int f = frames[i];
            if (f == Blank) continue;
            bool repeat = i > 0 && frames[i - 1] == f;
            readings = readings.SelectMany(p => repeat ? new[] { p, [.. p, f] } : [[.. p, f]]).ToList();
        }
        return readings;
    }

    /// <summary>The CTC rule on one frame sequence: merge repeats, then drop blanks.</summary>
    static int[] CtcCollapse(int[] frames) =>
        frames.Where((f, i) => f != Blank && (i == 0 || frames[i - 1] != f)).ToArray();
}
