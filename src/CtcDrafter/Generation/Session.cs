using CtcDrafter.Model;
using CtcDrafter.Speculative;

namespace CtcDrafter.Generation;

/// <summary>
/// One running sequence of a model: its KV cache, the tokens the cache holds and the base model's states its
/// drafters read at each of them (<see cref="BaseFeatures"/>). It lives across generations, so a prompt that extends the previous one (the next turn
/// of a chat) prefills only what is new; since a forward pass computes every row exactly as it would alone, the
/// reused cache is bitwise the cache a fresh prefill would build. The session makes the rows a forward pass runs
/// for it (<see cref="ForwardPart"/>) and takes what the pass computed; the pass itself may be shared with other
/// sequences.
/// </summary>
internal sealed class Session
{
    readonly List<int> _tokens = [];
    readonly float[] _features; // [capacity, width] the kept base states at every cached token
    readonly int _width;        // sources * hidden

    /// <param name="features">The base states kept per token: those of the passes that run the session's rows.</param>
    public Session(LlamaModel model, IReadOnlyList<int> features)
    {
        Model = model;
        Features = [.. features];
        BaseFeatures.Check(Features, model.Config.NumLayers);
        Cache = Transformer.NewCache(model.Config, model.ContextLength);
        _width = Features.Count * model.Config.HiddenSize;
        _features = new float[(long)Cache.Capacity * _width];
    }

    /// <summary>The base states kept per token, in the order of each row's columns.</summary>
    public IReadOnlyList<int> Features { get; }

    public LlamaModel Model { get; }
    public KvCache Cache { get; }
    public int Context => Cache.Capacity;

    /// <summary>The tokens whose keys and values the cache holds, in order.</summary>
    public IReadOnlyList<int> Tokens => _tokens;

    /// <summary>
    /// Keeps the longest common prefix of what the cache holds with <paramref name="prompt"/> (all but the prompt's
    /// last token at most, whose logits are needed) and forgets the rest; returns how many tokens were kept.
    /// </summary>
    public int Keep(IReadOnlyList<int> prompt)
    {
        CheckPrompt(prompt, Model.Config.VocabSize, Context);
        int keep = SharedPrefix(prompt);
        Cache.Truncate(keep);
        _tokens.RemoveRange(keep, _tokens.Count - keep);
        return keep;
    }

    /// <summary>How many leading tokens of <paramref name="prompt"/> <see cref="Keep"/> would keep.</summary>
    public int SharedPrefix(IReadOnlyList<int> prompt)
    {
        int n = 0, most = Math.Min(_tokens.Count, prompt.Count - 1);
        while (n < most && _tokens[n] == prompt[n]) n++;
        return n;
    }

    /// <summary>The next <paramref name="count"/> prompt tokens after the cached ones, causally; logits of the last when <paramref name="last"/>.</summary>
    public ForwardPart PromptChunk(IReadOnlyList<int> prompt, int count, bool last)
    {
        int L = Cache.Length;
        int[] ids = new int[count], positions = new int[count], parents = new int[count];
        for (int i = 0; i < count; i++) (ids[i], positions[i], parents[i]) = (prompt[L + i], L + i, i - 1);
        return new ForwardPart(Cache, ids, positions, parents, last ? count - 1 : count);
    }

    /// <summary>Commits a prompt chunk the pass has run; <paramref name="features"/> its rows' kept states [rows, width].</summary>
    public void CommitChunk(ForwardPart chunk, ReadOnlySpan<float> features)
    {
        features.CopyTo(_features.AsSpan(Cache.Length * _width));
        Cache.Advance(chunk.Rows);
        _tokens.AddRange(chunk.Tokens);
    }

    /// <summary>The rows of a verification: the tree (root = the pending token) in pending slots, every node's logits.</summary>
    public ForwardPart TreePart(DraftTree tree)
    {
        var (ids, positions, parents) = tree.ForwardInputs(Cache.Length);
        return new ForwardPart(Cache, ids, positions, parents, 0);
    }

    /// <summary>
    /// Commits the accepted root-to-node <paramref name="path"/> of the verified tree, whose rows' kept states
    /// the pass left in <paramref name="treeFeatures"/> [tree nodes, width]; returns the states at the path's nodes
    /// [path.Length, width].
    /// </summary>
    public ReadOnlySpan<float> Commit(DraftTree tree, int[] path, ReadOnlySpan<float> treeFeatures)
    {
        int W = _width, L = Cache.Length;
        for (int i = 0; i < path.Length; i++)
        {
            treeFeatures.Slice(path[i] * W, W).CopyTo(_features.AsSpan((L + i) * W, W));
            _tokens.Add(tree.Token(path[i]));
        }
        Cache.Commit(path);
        return _features.AsSpan(L * W, path.Length * W);
    }

    /// <summary>Kept states at cached tokens 0 .. count - 1: [count, width].</summary>
    public ReadOnlySpan<float> StatesOf(int count) => _features.AsSpan(0, count * _width);

    internal static void CheckPrompt(IReadOnlyList<int> prompt, int vocab, int context)
    {
        if (prompt.Count == 0) throw new ArgumentException("the prompt is empty (give text, or at least a BOS token)");
        if (prompt.Count >= context)
            throw new ArgumentException($"the prompt has {prompt.Count} tokens but the context holds {context}: no room to generate");
        foreach (int id in prompt)
            if ((uint)id >= (uint)vocab) throw new ArgumentException($"prompt token id {id} is outside the vocabulary of {vocab}");
    }
}
