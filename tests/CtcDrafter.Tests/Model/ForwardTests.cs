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

    /// <summary>Qwen2: q/k/v biases, tied embeddings, a sliding_window value that use_sliding_window false switches
    /// off (the context is not limited to it), against the double-precision reference.</summary>
    [Fact]
    public void Qwen2EqualsDoublePrecisionReference()
    {
        using var dir = new TempDir();
        var config = TestModels.Small(tied: true) with { Architecture = "Qwen2ForCausalLM", QkvBias = true, RopeTheta = 1e6f };
        string folder = TestModels.Write(dir, config);
        string path = Path.Combine(folder, "config.json");
        var o = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        o["sliding_window"] = 32;
        File.WriteAllText(path, o.ToJsonString());
        using var m = TestModels.Load(folder);
        Assert.Equal((true, null, 256), (m.Config.QkvBias, m.Config.SlidingWindow, m.Config.MaxContext));
        int[] tokens = TestModels.RandomTokens(new Random(6), 40, m.Config.VocabSize);
        float[][] engine = TestModels.PrefillLogits(m, tokens);
        double[][] reference = new ReferenceLlama(folder).Logits(tokens);
        for (int i = 0; i < tokens.Length; i++)
            Assert.True(TestModels.MaxAbsDiff(engine[i], reference[i]) <= 1e-4, $"position {i}: {TestModels.MaxAbsDiff(engine[i], reference[i])}");

        o["use_sliding_window"] = true;
        File.WriteAllText(path, o.ToJsonString());
        var e = Assert.ThrowsAny<Exception>(() => { using var refused = TestModels.Load(folder); });
        Assert.Contains("use_sliding_window is true", e.Message);
        o["use_sliding_window"] = false;
        File.WriteAllText(path, o.ToJsonString());
        File.Delete(Path.Combine(folder, "model.safetensors"));
        RandomModel.Write(dir["no-bias"], config with { QkvBias = false, Architecture = "LlamaForCausalLM" });
        File.Copy(Path.Combine(dir["no-bias"], "model.safetensors"), Path.Combine(folder, "model.safetensors"));
        e = Assert.ThrowsAny<Exception>(() => { using var missing = TestModels.Load(folder); });
        Assert.Contains("q_proj.bias", e.Message);
    }

    /// <summary>RoPE scaling (Llama-3.1's llama3 and linear) against the double-precision reference, over positions
    /// past the original context where the scaling changes the rotation; the unscaled model differs there.</summary>
    [Theory]
    [InlineData("linear")]
    [InlineData("llama3")]
    public void ScaledRopeEqualsDoublePrecisionReference(string type)
    {
        using var dir = new TempDir();
        var scaling = type == "linear"
            ? new RopeScaling { Type = "linear", Factor = 4 }
            : new RopeScaling { Type = "llama3", Factor = 8, LowFreqFactor = 1, HighFreqFactor = 4, OriginalMaxPositions = 16 };
        var config = TestModels.Small() with { RopeScaling = scaling };
        string folder = TestModels.Write(dir, config);
        string plainFolder = TestModels.Write(dir, TestModels.Small(), name: "plain");
        using var m = TestModels.Load(folder);
        using var plain = TestModels.Load(plainFolder);
        Assert.Equal(scaling, m.Config.RopeScaling);
        int[] tokens = TestModels.RandomTokens(new Random(4), 60, m.Config.VocabSize);
        float[][] engine = TestModels.PrefillLogits(m, tokens), unscaled = TestModels.PrefillLogits(plain, tokens);
        double[][] reference = new ReferenceLlama(folder).Logits(tokens);
        for (int i = 0; i < tokens.Length; i++)
            Assert.True(TestModels.MaxAbsDiff(engine[i], reference[i]) <= 1e-4, $"position {i}: {TestModels.MaxAbsDiff(engine[i], reference[i])}");
        Assert.True(TestModels.MaxAbsDiff(engine[^1], unscaled[^1]) > 1e-3, "the scaling should change the logits");

        // The table's fp32 frequencies (transformers' arithmetic) agree with the double-precision formula.
        float[] inv = m.Config.InverseFrequencies();
        for (int i = 0; i < inv.Length; i++)
            Assert.Equal(ReferenceLlama.InverseFrequency(m.Config, i), inv[i], 1e-6 * inv[i] + 1e-12);
    }

    [Theory]
    [InlineData("{\"rope_type\": \"dynamic\", \"factor\": 2.0}", "rope_scaling 'dynamic' is not supported")]
    [InlineData("{\"rope_type\": \"yarn\", \"factor\": 4.0}", "rope_scaling 'yarn' is not supported")]
    [InlineData("{\"rope_type\": \"llama3\", \"factor\": 8.0}", "rope_scaling 'llama3' has no 'low_freq_factor'")]
    [InlineData("{\"type\": \"linear\"}", "rope_scaling 'linear' has no 'factor'")]
    [InlineData("{\"type\": \"linear\", \"factor\": 0.5}", "out-of-range")]
    [InlineData("[1]", "rope_scaling must be an object or null")]
    public void UnsupportedRopeScalingIsRefusedByName(string json, string expected)
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, TestModels.Small());
        string path = Path.Combine(folder, "config.json");
        var o = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        o["rope_scaling"] = System.Text.Json.Nodes.JsonNode.Parse(json);
        File.WriteAllText(path, o.ToJsonString());
        var e = Assert.ThrowsAny<Exception>(() => { using var m = TestModels.Load(folder); });
        Assert.Contains(expected, e.Message);
    }

    /// <summary>Shapes for the bitwise tests: GQA and MHA, head sizes and widths that are not multiples of 8.</summary>
    public static TheoryData<string, WeightFormat> Shapes() => new()
    {
        { "gqa", WeightFormat.F32 }, { "gqa", WeightFormat.BF16 }, { "gqa", WeightFormat.Q8 },
        { "odd", WeightFormat.F32 }, { "odd", WeightFormat.BF16 }, { "mha", WeightFormat.Q8 }, { "gqa", WeightFormat.Q4 },
        { "mha", WeightFormat.Q4 },
    };

    static ModelConfig Shape(string name) => name switch
    {
        "gqa" => RandomModel.Config(hidden: 64, ffn: 96, layers: 2, heads: 4, kvHeads: 2, vocab: 97, context: 256),
        "mha" => RandomModel.Config(hidden: 96, ffn: 160, layers: 3, heads: 3, kvHeads: 3, vocab: 61, context: 256, tied: true),
        _ => RandomModel.Config(hidden: 76, ffn: 100, layers: 2, heads: 2, kvHeads: 1, vocab: 83, context: 256), // head size 38
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void PrefillGivesBitwiseTheSameLogitsAndCacheWhateverTheChunkSize(string shape, WeightFormat format)
    {
        using var dir = new TempDir();
        using var m = TestModels.Load(TestModels.Write(dir, Shape(shape)), format);
        int V = m.Config.VocabSize;
        int[] tokens = TestModels.RandomTokens(new Random(5), 40, V);
        (float[] Logits, float[] Hidden, float[] Key) Run(int chunk)
        {
            var t = m.NewTransformer(maxTokens: 64);
            var logits = new float[V];
            t.Prefill(tokens, logits, chunk: chunk);
            Assert.Equal(tokens.Length, t.Cache.Length);
            int n = tokens.Length % chunk == 0 ? chunk : tokens.Length % chunk;
            return (logits, t.Hidden(n)[^m.Config.HiddenSize..].ToArray(), t.Cache.Keys(m.Config.NumLayers - 1, 0, 0, tokens.Length).ToArray());
        }
        var whole = Run(tokens.Length);
        foreach (int chunk in new[] { 1, 7 })
        {
            var chunked = Run(chunk);
            Assert.True(whole.Logits.AsSpan().SequenceEqual(chunked.Logits), $"logits, chunks of {chunk}");
            Assert.True(whole.Hidden.AsSpan().SequenceEqual(chunked.Hidden), $"hidden state, chunks of {chunk}");
            Assert.True(whole.Key.AsSpan().SequenceEqual(chunked.Key), $"cached keys, chunks of {chunk}");
        }
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
    [MemberData(nameof(Shapes))]
    public void TreeNodesAreBitwiseTheirPathDecodedOneTokenAtATime(string shape, WeightFormat format)
    {
        using var dir = new TempDir();
        using var m = TestModels.Load(TestModels.Write(dir, Shape(shape)), format);
        int V = m.Config.VocabSize, H = m.Config.HiddenSize;
        for (int seed = 1; seed <= 3; seed++)
        {
            var rng = new Random(seed);
            int n = 3 + rng.Next(30);
            int[] prefix = TestModels.RandomTokens(rng, 7, V);
            var (tokens, parents, depths) = RandomTree(rng, n, V);

            var tree = m.NewTransformer();
            tree.Prefill(prefix, new float[V]);
            var logits = new float[n * V];
            tree.Forward(tokens, depths.Select(d => prefix.Length + d).ToArray(), parents, Enumerable.Range(0, n).ToArray(), logits);
            float[] hidden = tree.Hidden(n).ToArray();

            for (int node = 0; node < n; node++)
            {
                var seq = m.NewTransformer();
                var expected = new float[V];
                seq.Prefill(prefix, expected);
                foreach (int j in PathTo(parents, node))
                {
                    seq.Forward([tokens[j]], [seq.Cache.Length], [-1], [0], expected);
                    seq.Cache.Advance(1);
                }
                string where = $"{shape} {format} seed {seed}, node {node} of {n} (depth {depths[node]})";
                Assert.True(logits.AsSpan(node * V, V).SequenceEqual(expected), "logits of " + where);
                Assert.True(hidden.AsSpan(node * H, H).SequenceEqual(seq.Hidden(1)), "hidden state of " + where);
            }
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
        whole.Prefill(prefix, new float[V]);
        whole.ForwardVectors(embedded, positions, parents, 0);
        float[] expected = whole.Hidden(n).ToArray();

        var grown = m.NewTransformer();
        grown.Prefill(prefix, new float[V]);
        for (int start = 0; start < n;)
        {
            int count = Math.Min(n - start, 1 + rng.Next(4));
            grown.ForwardVectors(embedded.AsSpan(start * H, count * H), positions.AsSpan(start, count), parents.AsSpan(start, count), start);
            double diff = TestModels.MaxAbsDiff(grown.Hidden(count).ToArray(), expected[(start * H)..((start + count) * H)]);
            Assert.True(diff == 0, $"nodes {start}..{start + count - 1}: max abs diff {diff}");
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
        t.Prefill(prefix, logits.AsSpan(0, V));
        t.Forward(tokens, depths.Select(d => prefix.Length + d).ToArray(), parents, [], logits);
        t.Cache.Commit(path);
        Assert.Equal(prefix.Length + path.Length, t.Cache.Length);
        int next = rng.Next(V);
        var afterCommit = new float[V];
        t.Forward([next], [t.Cache.Length], [-1], [0], afterCommit);

        var plain = m.NewTransformer();
        var expected = new float[V];
        plain.Prefill([.. prefix, .. path.Select(j => tokens[j]), next], expected);
        Assert.Equal(expected, afterCommit);
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
        t.Prefill([.. a, .. b], x);
        t.Cache.Truncate(a.Length);
        var y = new float[V];
        t.Prefill(b, y);
        Assert.Equal(x, y);
    }
}
