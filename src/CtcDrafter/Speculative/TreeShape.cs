using System.Text.Json;

namespace CtcDrafter.Speculative;

/// <summary>
/// A static tree in Medusa's "choices" format: each entry is a path of choice indices from the root, e.g.
/// <c>[0, 1]</c> = the second most likely token at depth 2 under the most likely token at depth 1. Compiled once
/// into parents, depths and the choice index of every node; a drafter fills it with its per-depth top-k tokens.
/// </summary>
public sealed class TreeShape
{
    /// <summary>Per node (root excluded, parents before children): parent node (0 = root), depth (1-based), choice.</summary>
    public IReadOnlyList<(int Parent, int Depth, int Choice)> Nodes { get; }
    public int MaxDepth { get; }
    /// <summary>Largest choice index + 1 at any depth: the top-k a drafter must supply.</summary>
    public int TopK { get; }

    public TreeShape(IEnumerable<int[]> choices)
    {
        var paths = choices.Distinct(new PathComparer()).OrderBy(p => p.Length).ThenBy(p => p, new PathOrder()).ToList();
        var index = new Dictionary<string, int> { [""] = 0 };
        var nodes = new List<(int, int, int)>();
        foreach (int[] path in paths)
        {
            if (path.Length == 0 || path.Any(c => c < 0)) throw new FormatException($"invalid tree path [{string.Join(",", path)}]");
            string parentKey = string.Join(",", path[..^1]);
            if (!index.TryGetValue(parentKey, out int parent))
                throw new FormatException($"tree path [{string.Join(",", path)}] has no parent path [{parentKey}]");
            nodes.Add((parent, path.Length, path[^1]));
            index[string.Join(",", path)] = nodes.Count;
        }
        Nodes = nodes;
        MaxDepth = nodes.Count == 0 ? 0 : nodes.Max(n => n.Item2);
        TopK = nodes.Count == 0 ? 0 : nodes.Max(n => n.Item3) + 1;
    }

    /// <summary>Reads a JSON array of paths, or an object with a "paths" array (e.g. Medusa's mc_sim_7b_63).</summary>
    public static TreeShape Load(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            JsonElement paths = doc.RootElement.ValueKind == JsonValueKind.Object ? doc.RootElement.GetProperty("paths") : doc.RootElement;
            return new TreeShape(paths.Deserialize<int[][]>() ?? []);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new FormatException($"{path}: not a JSON array of integer paths ({e.Message})");
        }
    }

    /// <summary>A chain of <paramref name="depth"/> top-1 tokens.</summary>
    public static TreeShape Chain(int depth) => new(Enumerable.Range(1, depth).Select(d => new int[d]));

    /// <summary>The tree with node tokens <c>topTokens[depth - 1][choice]</c> under the given root.</summary>
    public DraftTree Fill(int root, IReadOnlyList<IReadOnlyList<int>> topTokens, int maxNodes = int.MaxValue)
    {
        var tree = new DraftTree(root);
        var at = new int[Nodes.Count + 1]; // shape node -> tree node, -1 when left out
        for (int i = 0; i < Nodes.Count; i++)
        {
            var (parent, depth, choice) = Nodes[i];
            bool fits = tree.Count < maxNodes && at[parent] >= 0 && depth <= topTokens.Count && choice < topTokens[depth - 1].Count;
            at[i + 1] = fits ? tree.Add(at[parent], topTokens[depth - 1][choice]) : -1;
        }
        return tree;
    }

    sealed class PathComparer : IEqualityComparer<int[]>
    {
        public bool Equals(int[]? a, int[]? b) => a!.SequenceEqual(b!);
        public int GetHashCode(int[] p) => p.Aggregate(17, (h, c) => h * 31 + c);
    }

    sealed class PathOrder : IComparer<int[]>
    {
        public int Compare(int[]? a, int[]? b)
        {
            for (int i = 0; i < Math.Min(a!.Length, b!.Length); i++)
                if (a[i] != b[i]) return a[i].CompareTo(b[i]);
            return a.Length.CompareTo(b.Length);
        }
    }
}
