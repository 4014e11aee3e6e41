using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Tests.Model;

public class ForwardTests
{
    [Theory]
    [InlineData(false, 2)]
    [InlineData(true, 4)]
    [InlineData(false, 1)]
    public void EngineLogitsEqualDoublePrecisionReference(bool tied, int kvHeads)
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, TestModels.Small(tied, kvHeads));
        using var m = TestModels.Load(folder);
        int[] tokens = TestModels.RandomTokens(new Random(3), 19, m.Config.VocabSize);
        float[][] engine = TestModels.PrefillLogits(m, tokens);
        double[][] reference = new ReferenceLlama(folder).Logits(tokens);
        for (int i = 0; i < tokens.Length; i++)
            Assert.True(TestModels.MaxAbsDiff(engine[i], reference[i]) <= 1e-4, $"position {i}: {TestModels.MaxAbsDiff(engine[i], reference[i])}");
    }

    [Fact]
    public void PrefillInChunksEqualsOneForwardAndTokenByToken()
    {
        using var dir = new TempDir();
        using var m = TestModels.Load(TestModels.Write(dir, TestModels.Small()));
        int V = m.Config.VocabSize;
        int[] tokens = TestModels.RandomTokens(new Random(5), 40, V);
        float[] whole = TestModels.PrefillLogits(m, tokens)[^1];

        var chunked = m.NewTransformer(maxTokens: 16);
        var a = new float[V];
        Generation.Generator.Prefill(chunked, tokens, a);
        Assert.True(TestModels.MaxAbsDiff(a, whole) <= 1e-4);

        var single = m.NewTransformer(maxTokens: 1);
        var b = new float[V];
        Generation.Generator.Prefill(single, tokens, b);
        Assert.True(TestModels.MaxAbsDiff(b, whole) <= 1e-4);
        Assert.Equal(40, single.Cache.Length);
    }

    /// <summary>A random tree: node i hangs under a random earlier node or the committed prefix.</summary>
    static (int[] Tokens, int[] Parents, int[] Depths) RandomTree(Random rng, int n, int vocab)
    {
        var parents = new int[n];
        var depths = new int[n];
        for (int i = 0; i < n; i++)
        {
            parents[i] = i == 0 ? -1 : rng.Next(-1, i);
            depths[i] = parents[i] < 0 ? 0 : depths[parents[i]] + 1;
        }
        return (TestModels.RandomTokens(rng, n, vocab), parents, depths);
    }

    static int[] PathTo(int[] parents, int node)
    {
        var path = new List<int>();
        for (int j = node; j >= 0; j = parents[j]) path.Insert(0, j);
        return [.. path];
    }

    [Theory]
    [InlineData(1, WeightFormat.F32)]
    [InlineData(2, WeightFormat.F32)]
    [InlineData(3, WeightFormat.BF16)]
    [InlineData(4, WeightFormat.Q8)]
    public void TreeNodeLogitsEqualDecodingTheirPath(int seed, WeightFormat format)
    {
        using var dir = new TempDir();
        var config = TestModels.Small() with { HiddenSize = 64, IntermediateSize = 128 };
        using var m = TestModels.Load(TestModels.Write(dir, config), format);
        var rng = new Random(seed);
        int V = m.Config.VocabSize, n = 3 + rng.Next(20);
        int[] prefix = TestModels.RandomTokens(rng, 7, V);
        var (tokens, parents, depths) = RandomTree(rng, n, V);

        var tree = m.NewTransformer();
        var scratch = new float[V];
        Generation.Generator.Prefill(tree, prefix, scratch);
        var logits = new float[n * V];
        tree.Forward(tokens, depths.Select(d => prefix.Length + d).ToArray(), parents, Enumerable.Range(0, n).ToArray(), logits);

        for (int node = 0; node < n; node++)
        {
            var seq = m.NewTransformer();
            var expected = new float[V];
            Generation.Generator.Prefill(seq, [.. prefix, .. PathTo(parents, node).Select(j => tokens[j])], expected);
            double diff = TestModels.MaxAbsDiff(logits.AsSpan(node * V, V).ToArray(), expected);
            Assert.True(diff <= 1e-4, $"node {node} (depth {depths[node]}): max abs diff {diff}");
        }
    }

    [Theory]
    [InlineData(5)]
    [InlineData(6)]
    public void ATreeGrownOverSeveralCallsEqualsOneCall(int seed)
    {
        // Pending slots kept between calls (pendingOffset) must give each node the hidden state it gets when the
        // whole tree runs at once: the drafters grow their own trees level by level this way.
        using var dir = new TempDir();
        using var m = TestModels.Load(TestModels.Write(dir, TestModels.Small() with { HiddenSize = 64, IntermediateSize = 128 }));
        var rng = new Random(seed);
        int V = m.Config.VocabSize, H = m.Config.HiddenSize, n = 8 + rng.Next(16);
        int[] prefix = TestModels.RandomTokens(rng, 5, V);
        var (tokens, parents, depths) = RandomTree(rng, n, V);
        int[] positions = depths.Select(d => prefix.Length + d).ToArray();
        var embedded = new float[n * H];
        for (int i = 0; i < n; i++) m.Weights.Embedding.ReadRow(tokens[i], embedded.AsSpan(i * H, H));

        var whole = m.NewTransformer();
        Generation.Generator.Prefill(whole, prefix, new float[V]);
        whole.ForwardVectors(embedded, positions, parents, 0);
        float[] expected = whole.Hidden(n).ToArray();

        var grown = m.NewTransformer();
        Generation.Generator.Prefill(grown, prefix, new float[V]);
        for (int start = 0; start < n;)
        {
            int count = Math.Min(n - start, 1 + rng.Next(4));
            grown.ForwardVectors(embedded.AsSpan(start * H, count * H), positions.AsSpan(start, count), parents.AsSpan(start, count), start);
            double diff = TestModels.MaxAbsDiff(grown.Hidden(count).ToArray(), expected[(start * H)..((start + count) * H)]);
            Assert.True(diff <= 1e-5, $"nodes {start}..{start + count - 1}: max abs diff {diff}");
            start += count;
        }
        Assert.Equal(prefix.Length, grown.Cache.Length); // pending slots are not committed
    }

    [Fact]
    public void CommitOfATreePathThenDecodingEqualsPlainDecoding()
    {
        using var dir = new TempDir();
        using var m = TestModels.Load(TestModels.Write(dir, TestModels.Small()));
        var rng = new Random(11);
        int V = m.Config.VocabSize;
        int[] prefix = TestModels.RandomTokens(rng, 5, V);
        var (tokens, parents, depths) = RandomTree(rng, 12, V);
        int deepest = Enumerable.Range(0, 12).MaxBy(i => depths[i]);
        int[] path = PathTo(parents, deepest);

        var t = m.NewTransformer();
        var logits = new float[12 * V];
        Generation.Generator.Prefill(t, prefix, logits);
        t.Forward(tokens, depths.Select(d => prefix.Length + d).ToArray(), parents, [], logits);
        t.Cache.Commit(path);
        Assert.Equal(prefix.Length + path.Length, t.Cache.Length);
        int next = rng.Next(V);
        var afterCommit = new float[V];
        t.Forward([next], [t.Cache.Length], [-1], [0], afterCommit);

        var plain = m.NewTransformer();
        var expected = new float[V];
        Generation.Generator.Prefill(plain, [.. prefix, .. path.Select(j => tokens[j]), next], expected);
        Assert.True(TestModels.MaxAbsDiff(afterCommit, expected) <= 1e-4);
    }

    [Fact]
    public void TruncateRollsBackTheCache()
    {
        using var dir = new TempDir();
        using var m = TestModels.Load(TestModels.Write(dir, TestModels.Small()));
        int V = m.Config.VocabSize;
        int[] a = TestModels.RandomTokens(new Random(1), 10, V), b = TestModels.RandomTokens(new Random(2), 4, V);
        var t = m.NewTransformer();
        var x = new float[V];
        Generation.Generator.Prefill(t, [.. a, .. b], x);
        t.Cache.Truncate(a.Length);
        var y = new float[V];
        Generation.Generator.Prefill(t, b, y);
        Assert.True(TestModels.MaxAbsDiff(x, y) <= 1e-5);
    }
}
