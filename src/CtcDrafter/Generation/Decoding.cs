using System.Diagnostics;
using CtcDrafter.Drafters;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Speculative;

namespace CtcDrafter.Generation;

/// <summary>
/// One generation, advanced one forward pass at a time so that several sequences can share each pass
/// (<see cref="BatchGenerator"/>; <see cref="Generator"/> runs a batch of one). <see cref="Plan"/> gives the rows
/// the sequence puts into the next pass: its prompt's next chunk, or the draft tree under its pending root (the
/// drafter proposes, the CTC transform applies). <see cref="Complete"/> takes what the pass computed: the prompt's
/// cache and first token, or the accepted path and bonus token (commit, the drafter observes, the text is emitted).
/// The output is the base model's own by construction: a verification computes every tree node's logits bitwise
/// as plain decoding computes them one token at a time, greedy acceptance takes only tokens that are the argmax,
/// and sampling draws every emitted token from the random stream exactly as plain sampling does (see
/// <see cref="Acceptance.Sample"/>), so the same seed gives the same text, whatever else shares the pass.
/// </summary>
internal sealed class Decoding
{
    readonly Session _session;
    readonly IDrafter _drafter;
    readonly TreeBudget _budget;
    readonly GenerationRequest _request;
    readonly IReadOnlyList<int> _prompt;
    readonly int _vocab;
    readonly Sampler _sampler;
    readonly float[] _probs;
    readonly StatsRecorder _stats;
    readonly OutputText _output;
    readonly TokenLogprobs? _logprobs;
    readonly List<int> _tokens = [];
    readonly int[]? _selection;  // where the drafter's features sit among the session's kept states (null: all, in order)
    float[] _observed = [];      // the drafter's features of the tokens it observes, gathered by _selection
    readonly long _started = Stopwatch.GetTimestamp();
    long _firstToken;
    int _root;                  // the pending token: emitted, not yet in the cache
    ForwardPart? _part;         // what the last Plan put into the pass
    DraftTree? _tree;           // its tree, when it verifies one
    TimeSpan _drafting;         // drafting time of the current step

    /// <exception cref="ArgumentException">The prompt is empty, holds ids outside the vocabulary, or does not fit the context; or the request is invalid.</exception>
    public Decoding(Session session, IDrafter drafter, TreeBudget budget, GenerationRequest request, Action<TextPiece>? onText)
    {
        request.Validate();
        (_session, _drafter, _budget, _request, _prompt) = (session, drafter, budget, request, request.PromptTokens);
        _vocab = session.Model.Config.VocabSize;
        int cached = session.Keep(_prompt);
        _sampler = new Sampler(request.Sampling);
        _probs = new float[_vocab];
        _stats = new StatsRecorder(drafter.Name, _prompt.Count) { PrefillTokens = _prompt.Count - cached };
        _output = new OutputText(session.Model.Tokenizer, request.StopStrings, onText);
        _logprobs = request.Logprobs is int top ? new TokenLogprobs(top, request.Sampling) : null;
        _selection = BaseFeatures.Selection(session.Features, drafter.Features);
    }

    /// <summary>Why the generation ended, once it has.</summary>
    public FinishReason? Finish { get; private set; }

    /// <summary>Whether the next pass still runs prompt tokens (no tree budget needed).</summary>
    public bool Prefilling => _session.Cache.Length < _prompt.Count;

    /// <summary>Whether the next step verifies a tree, so needs a node budget from <see cref="TreeBudget.Next"/>.</summary>
    public bool Drafting => Finish is null && !Prefilling;

    /// <summary>
    /// The rows of this sequence's next pass: at most <paramref name="chunk"/> prompt tokens while prefilling,
    /// else the draft tree under the pending root in at most <paramref name="maxNodes"/> nodes. Null once finished
    /// (a full context finishes it here).
    /// </summary>
    public ForwardPart? Plan(int maxNodes, int chunk = Transformer.PrefillChunk)
    {
        _part = null;
        _tree = null;
        if (Finish is not null) return null;
        if (Prefilling)
        {
            int n = Math.Min(chunk, _prompt.Count - _session.Cache.Length);
            return _part = _session.PromptChunk(_prompt, n, last: _session.Cache.Length + n == _prompt.Count);
        }
        int room = _session.Context - _session.Cache.Length;
        if (room <= 0) { Finish = FinishReason.ContextFull; return null; }
        int budget = Math.Clamp(maxNodes, 1, room);

        long t0 = Stopwatch.GetTimestamp();
        if (budget == 1) _tree = new DraftTree(_root);                      // a budget of one node: plain decoding
        else
        {
            int asked = _drafter.Transform.DraftNodes(budget);
            DraftTree tree = _drafter.Propose(_root, asked);                // candidate tree under the pending root
            CheckProposal(tree, asked);
            _tree = _drafter.Transform.Apply(tree, budget);                 // the CTC transform (CTC drafts only)
        }
        _drafting = Stopwatch.GetElapsedTime(t0);
        return _part = _session.TreePart(_tree);                            // verified by one base forward
    }

    /// <summary>
    /// Takes the pass's results for the rows <see cref="Plan"/> gave: they are rows <paramref name="firstRow"/> on
    /// of <paramref name="pass"/>, their logits <paramref name="logits"/> [logit rows, vocab]; the pass took
    /// <paramref name="forward"/>.
    /// </summary>
    public void Complete(Transformer pass, int firstRow, ReadOnlySpan<float> logits, TimeSpan forward)
    {
        ForwardPart part = _part ?? throw new InvalidOperationException("no planned pass to complete");
        _part = null;
        CheckFinite(logits[..(part.LogitRows * _vocab)], part.Positions[part.LogitsFrom == part.Rows ? 0 : part.LogitsFrom]);
        if (_tree is null) CompleteChunk(part, pass.Features(firstRow, part.Rows), logits);
        else CompleteStep(_tree, pass.Features(firstRow, part.Rows), logits, forward);
    }

    void CompleteChunk(ForwardPart chunk, ReadOnlySpan<float> features, ReadOnlySpan<float> logits)
    {
        _session.CommitChunk(chunk, features);
        if (Prefilling) return;
        _drafter.Reset();
        _drafter.Observe([.. _prompt], DrafterFeatures(_session.StatesOf(_prompt.Count)));
        _root = _sampler.Next(logits[.._vocab], _probs);
        _firstToken = Stopwatch.GetTimestamp();
        _stats.PrefillMs = Stopwatch.GetElapsedTime(_started, _firstToken).TotalMilliseconds;
        Finish = Emit(_root, logits[.._vocab], 0);
    }

    void CompleteStep(DraftTree tree, ReadOnlySpan<float> treeFeatures, ReadOnlySpan<float> logits, TimeSpan verify)
    {
        long t2 = Stopwatch.GetTimestamp();
        Accepted accepted = _request.Sampling.IsGreedy                      // longest accepted path + bonus token
            ? Acceptance.Greedy(tree, logits, _vocab)
            : Acceptance.Sample(tree, logits, _vocab, _sampler, _probs);
        ReadOnlySpan<float> states = _session.Commit(tree, accepted.Path, treeFeatures); // accepted K/V into the cache
        _drafter.Observe(accepted.Path.Select(tree.Token).ToArray(), DrafterFeatures(states));
        TimeSpan drafting = _drafting + Stopwatch.GetElapsedTime(t2);

        _budget.Record(accepted.Path.Length - 1, drafting.TotalMilliseconds);
        _stats.Step(accepted.Path.Length - 1, tree.Count - 1, drafting, verify);
        int[] path = accepted.Path;
        FinishReason? finish = null;
        for (int k = 1; k < path.Length && finish is null; k++) finish = Emit(tree.Token(path[k]), logits.Slice(path[k - 1] * _vocab, _vocab), k);
        Finish = finish ?? Emit(accepted.Bonus, logits.Slice(path[^1] * _vocab, _vocab), 0);
        _root = accepted.Bonus;
    }

    // The drafter's features of tokens whose session states are `states` [n, session width].
    ReadOnlySpan<float> DrafterFeatures(ReadOnlySpan<float> states)
    {
        if (_selection is null) return states;
        int H = _session.Model.Config.HiddenSize, n = states.Length / (_session.Features.Count * H);
        if (_observed.Length < n * _selection.Length * H) _observed = new float[n * _selection.Length * H];
        Span<float> output = _observed.AsSpan(0, n * _selection.Length * H);
        BaseFeatures.Gather(states, _session.Features.Count, _selection, H, output);
        return output;
    }

    /// <summary>Ends the generation here (its time limit passed), keeping what it has emitted.</summary>
    public void Stop(FinishReason reason) => Finish ??= reason;

    /// <summary>The generated tokens, text and statistics; once <see cref="Finish"/> is set.</summary>
    public GenerationResult Result()
    {
        FinishReason finish = Finish ?? throw new InvalidOperationException("the generation has not finished");
        _stats.DecodeMs = _firstToken == 0 ? 0 : Stopwatch.GetElapsedTime(_firstToken).TotalMilliseconds;
        return new GenerationResult(_tokens, _output.Finish(), finish, _stats.Finish(_tokens.Count)) { Logprobs = _logprobs?.Items };
    }

    // Emits one committed token, chosen from the logits row it was chosen from, accepted at draft depth
    // `depth` (0: the base model's own); returns why generation ends after it, if it does.
    FinishReason? Emit(int token, ReadOnlySpan<float> from, int depth)
    {
        _tokens.Add(token);
        _logprobs?.Add(token, from);
        if (_session.Model.Config.EosTokenIds.Contains(token)) return FinishReason.EndOfSequence;
        if (_output.Push(token, depth)) return FinishReason.StopString;
        if (_tokens.Count >= _request.MaxNewTokens) return FinishReason.MaxTokens;
        return null;
    }

    /// <summary>
    /// Refuses to go on from logits that are not finite (NaN or infinite weights, or an overflow): any token chosen
    /// from them would be arbitrary, and the text garbage with a success status.
    /// </summary>
    void CheckFinite(ReadOnlySpan<float> logits, int position)
    {
        foreach (float x in logits)
            if (!float.IsFinite(x))
                throw new InvalidDataException($"{_session.Model.Folder}: the model computed non-finite logits ({x}) at position {position}: " +
                    "its weights hold NaN or infinite values, or overflow; it cannot be run");
    }

    void CheckProposal(DraftTree tree, int asked)
    {
        if (tree.Count > asked || tree.Root != _root)
            throw new InvalidOperationException($"drafter {_drafter.Name} proposed {tree.Count} nodes under root {tree.Root}; {asked} were asked under {_root}");
    }
}
