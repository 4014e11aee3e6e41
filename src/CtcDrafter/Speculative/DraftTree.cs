namespace CtcDrafter.Speculative;

/// <summary>
/// A candidate tree for one verification step. Node 0 is the root: the last token chosen by the base model,
/// not yet run through it. Every other node is a draft token hanging under an earlier node, so nodes are in
/// topological order and node i sits at position <c>L + Depth(i)</c> and in pending KV slot <c>L + i</c>.
/// </summary>
public sealed class DraftTree
{
    readonly List<int> _tokens = [];
    readonly List<int> _parents = [];
    readonly List<int> _depths = [];

    public DraftTree(int root)
    {
        _tokens.Add(root);
        _parents.Add(-1);
        _depths.Add(0);
    }

    public int Count => _tokens.Count;
    public int Root => _tokens[0];
    public int Token(int node) => _tokens[node];
    public int Parent(int node) => _parents[node];
    public int Depth(int node) => _depths[node];
    public int MaxDepth => _depths.Max();

    public IReadOnlyList<int> Tokens => _tokens;
    public IReadOnlyList<int> Parents => _parents;
    public IReadOnlyList<int> Depths => _depths;

    /// <summary>Adds a draft token under <paramref name="parent"/>; returns the new node's index.</summary>
    public int Add(int parent, int token)
    {
        if ((uint)parent >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(parent));
        _tokens.Add(token);
        _parents.Add(parent);
        _depths.Add(_depths[parent] + 1);
        return Count - 1;
    }

    /// <summary>Children of a node, in insertion order.</summary>
    public IEnumerable<int> Children(int node)
    {
        for (int i = node + 1; i < Count; i++)
            if (_parents[i] == node) yield return i;
    }

    /// <summary>Nodes from the root down to <paramref name="node"/>, root first.</summary>
    public int[] PathTo(int node)
    {
        var path = new int[_depths[node] + 1];
        for (int j = node, k = path.Length - 1; j >= 0; j = _parents[j]) path[k--] = j;
        return path;
    }

    /// <summary>
    /// The CTC transform, lossless version (docs METHOD.md section 4): inside every root-to-leaf path, a draft
    /// token equal to its parent's draft token (a CTC repeat; depth >= 2, the root is not a CTC frame) or equal to
    /// the blank is removed and its children hang from its nearest kept ancestor; siblings that end up carrying
    /// the same token are merged, their subtrees joined. The result is an ordinary tree: verification gives each
    /// kept node its new depth as position and its own slot, so nothing downstream sees the removed nodes.
    /// With <paramref name="keepRepeats"/>, a repeat is read both ways: removed as above, and also kept as a
    /// real token (a genuine doubled token, such as the zeros of "100", which the strict transform can never
    /// propose).
    /// </summary>
    public DraftTree Collapse(int? blank, bool keepRepeats = false)
    {
        var result = new DraftTree(Root);
        var map = new List<int>[Count]; // original node -> the nodes of the result that stand for it
        map[0] = [0];
        var childByToken = new Dictionary<(int Parent, int Token), int>();
        int Child(int parent, int token)
        {
            if (!childByToken.TryGetValue((parent, token), out int child)) childByToken[(parent, token)] = child = result.Add(parent, token);
            return child;
        }
        for (int i = 1; i < Count; i++)
        {
            int token = _tokens[i];
            bool repeat = _parents[i] > 0 && token == _tokens[_parents[i]];
            var readings = new List<int>();
            foreach (int parent in map[_parents[i]])
            {
                if (token == blank || repeat) readings.Add(parent);
                if (token != blank && (!repeat || keepRepeats)) readings.Add(Child(parent, token));
            }
            map[i] = readings;
        }
        return result;
    }

    /// <summary>The first <paramref name="count"/> nodes (parents precede children, so this is still a tree).</summary>
    public DraftTree Take(int count)
    {
        if (count >= Count) return this;
        var t = new DraftTree(Root);
        for (int i = 1; i < Math.Max(1, count); i++) t.Add(_parents[i], _tokens[i]);
        return t;
    }

    /// <summary>Forward-pass inputs: tokens, positions <c>L + depth</c> and parents of every node.</summary>
    public (int[] Tokens, int[] Positions, int[] Parents) ForwardInputs(int committedLength) =>
        ([.. _tokens], _depths.Select(d => committedLength + d).ToArray(), [.. _parents]);

    public override string ToString() =>
        string.Join(" ", Enumerable.Range(0, Count).Select(i => $"{i}:{_tokens[i]}<-{_parents[i]}"));
}
