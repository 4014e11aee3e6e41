using CtcDrafter.Drafters;
using CtcDrafter.Model;
using CtcDrafter.Speculative;

namespace CtcDrafter.Generation;

/// <summary>
/// One running sequence of a model: its transformer, KV cache, the tokens the cache holds and the base model's
/// final hidden state at each of them. It lives across generations, so a prompt that extends the previous
/// one (the next turn of a chat) prefills only what is new; since a forward pass computes every row exactly as
/// it would alone, the reused cache is bitwise the cache a fresh prefill would build.
/// </summary>
internal sealed class Session
{
    readonly List<int> _tokens = [];
    readonly float[] _hidden; // [capacity, hidden] final hidden state at every cached token

    public Session(LlamaModel model, int maxTreeNodes)
    {
        Model = model;
        Transformer = model.NewTransformer(Math.Max(Transformer.PrefillChunk, maxTreeNodes));
        _hidden = new float[(long)Transformer.Cache.Capacity * model.Config.HiddenSize];
    }

    public LlamaModel Model { get; }
    public Transformer Transformer { get; }
    public KvCache Cache => Transformer.Cache;
    public int Context => Cache.Capacity;

    /// <summary>The tokens whose keys and values the cache holds, in order.</summary>
    public IReadOnlyList<int> Tokens => _tokens;

    /// <summary>
    /// Makes the cache hold <paramref name="prompt"/>: keeps the longest common prefix with what it holds (all
    /// but the prompt's last token at most, whose logits are needed), runs the rest, and writes the last token's
    /// logits to <paramref name="logits"/> [vocab]. The drafter starts over and observes the whole prompt.
    /// Returns how many tokens were run.
    /// </summary>
    public int Prefill(IReadOnlyList<int> prompt, Span<float> logits, IDrafter drafter)
    {
        CheckPrompt(prompt, Model.Config.VocabSize, Context);
        int keep = 0, most = Math.Min(_tokens.Count, prompt.Count - 1);
        while (keep < most && _tokens[keep] == prompt[keep]) keep++;
        Truncate(keep);

        int H = Model.Config.HiddenSize;
        int[] rest = prompt.Skip(keep).ToArray();
        Transformer.Prefill(rest, logits, afterChunk: (start, n) =>
            Transformer.Hidden(n).CopyTo(_hidden.AsSpan((keep + start) * H, n * H)));
        _tokens.AddRange(rest);

        drafter.Reset();
        drafter.Observe([.. prompt], _hidden.AsSpan(0, prompt.Count * H));
        return rest.Length;
    }

    /// <summary>
    /// Runs a tree (root = the pending token) as pending slots and writes every node's logits [tree.Count, vocab].
    /// </summary>
    public void Verify(DraftTree tree, Span<float> logits)
    {
        var (ids, positions, parents) = tree.ForwardInputs(Cache.Length);
        Transformer.Forward(ids, positions, parents, Enumerable.Range(0, tree.Count).ToArray(), logits);
    }

    /// <summary>
    /// Commits the accepted root-to-node <paramref name="path"/> of the last verified tree; returns the base
    /// model's hidden states at its nodes [path.Length, hidden].
    /// </summary>
    public ReadOnlySpan<float> Commit(DraftTree tree, int[] path)
    {
        int H = Model.Config.HiddenSize, L = Cache.Length;
        ReadOnlySpan<float> all = Transformer.Hidden(path[^1] + 1);
        for (int i = 0; i < path.Length; i++)
        {
            all.Slice(path[i] * H, H).CopyTo(_hidden.AsSpan((L + i) * H, H));
            _tokens.Add(tree.Token(path[i]));
        }
        Cache.Commit(path);
        return _hidden.AsSpan(L * H, path.Length * H);
    }

    /// <summary>Forgets everything from <paramref name="length"/> on.</summary>
    public void Truncate(int length)
    {
        Cache.Truncate(length);
        _tokens.RemoveRange(length, _tokens.Count - length);
    }

    internal static void CheckPrompt(IReadOnlyList<int> prompt, int vocab, int context)
    {
        if (prompt.Count == 0) throw new ArgumentException("the prompt is empty (give text, or at least a BOS token)");
        if (prompt.Count >= context)
            throw new ArgumentException($"the prompt has {prompt.Count} tokens but the context holds {context}: no room to generate");
        foreach (int id in prompt)
            if ((uint)id >= (uint)vocab) throw new ArgumentException($"prompt token id {id} is outside the vocabulary of {vocab}");
    }
}
