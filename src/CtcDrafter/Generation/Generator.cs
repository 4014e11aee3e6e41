using System.Diagnostics;
using CtcDrafter.Drafters;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Speculative;

namespace CtcDrafter.Generation;

/// <summary>
/// Speculative decoding with any drafter (plain decoding is the drafter that proposes nothing). The output is the
/// base model's own by construction: a verification forward computes every tree node's logits bitwise as plain
/// decoding computes them one token at a time, greedy acceptance takes only tokens that are the argmax, and
/// sampling draws every emitted token from the random stream exactly as plain sampling does (see
/// <see cref="Acceptance.Sample"/>), so the same seed gives the same text. A generator keeps its sequence (a
/// <see cref="Session"/>) between calls: a prompt that extends the previous one prefills only its new tokens.
/// Not thread-safe: one generation at a time.
/// </summary>
public sealed class Generator
{
    readonly LlamaModel _model;
    readonly IDrafter _drafter;
    readonly int _maxTreeNodes;
    readonly bool _adaptive;
    TreeBudget? _budget;
    Session? _session;

    /// <param name="maxTreeNodes">Most tree nodes (root included) verified per step.</param>
    /// <param name="adaptive">
    /// Choose each step's tree size from the measured verification cost curve and the drafter's observed
    /// acceptance (hardware-aware); false verifies up to <paramref name="maxTreeNodes"/> every step. The budget
    /// changes how many tokens a step commits, never which.
    /// </param>
    public Generator(LlamaModel model, IDrafter? drafter = null, int maxTreeNodes = 16, bool adaptive = false)
    {
        (_model, _drafter, _maxTreeNodes) = (model, drafter ?? new NoDrafter(), Math.Max(1, maxTreeNodes));
        _adaptive = adaptive && _drafter is not NoDrafter;
    }

    /// <summary>The drafter's name ("vanilla" for plain decoding), as <see cref="GenerationStats.Method"/> reports it.</summary>
    public string Method => _drafter.Name;

    /// <summary>The context of the generator's sequence, in tokens (prompt and output together).</summary>
    public int Context => Sequence.Context;

    Session Sequence => _session ??= new Session(_model, _maxTreeNodes);

    // Made on the first generation, not in the constructor: an adaptive budget needs the model's verification
    // cost curve, a measurement of some forward passes (once per model), which constructing must not block on.
    TreeBudget Budget => _budget ??= new TreeBudget(_maxTreeNodes, _adaptive ? _model.VerifyCost : null);

    /// <summary>Generates; <paramref name="onText"/> receives the text as tokens are committed, each piece with its token's draft depth.</summary>
    /// <exception cref="ArgumentException">
    /// The prompt is empty, holds ids outside the vocabulary, or does not fit the context; or the request is invalid.
    /// </exception>
    public GenerationResult Generate(GenerationRequest request, Action<TextPiece>? onText = null)
    {
        request.Validate();
        Session session = Sequence;
        TreeBudget treeBudget = Budget;
        int V = _model.Config.VocabSize;
        var sampler = new Sampler(request.Sampling);
        var logits = new float[Math.Max(_maxTreeNodes, treeBudget.MaxNodes) * V]; // [tree nodes, vocab]
        var probs = new float[V];
        var stats = new StatsRecorder(_drafter.Name, request.PromptTokens.Count);
        var output = new OutputText(_model.Tokenizer, request.StopStrings, onText);
        var logprobs = request.Logprobs is int top ? new TokenLogprobs(top, request.Sampling) : null;
        var tokens = new List<int>();

        // Emits one committed token, chosen from the logits row it was chosen from, accepted at draft depth
        // `depth` (0: the base model's own); returns why generation ends after it, if it does.
        FinishReason? Emit(int token, ReadOnlySpan<float> from, int depth)
        {
            tokens.Add(token);
            logprobs?.Add(token, from);
            if (_model.Config.EosTokenIds.Contains(token)) return FinishReason.EndOfSequence;
            if (output.Push(token, depth)) return FinishReason.StopString;
            if (tokens.Count >= request.MaxNewTokens) return FinishReason.MaxTokens;
            return null;
        }

        var sw = Stopwatch.StartNew();
        stats.PrefillTokens = session.Prefill(request.PromptTokens, logits.AsSpan(0, V), _drafter);
        CheckFinite(logits.AsSpan(0, V), session.Cache.Length - 1);
        int root = sampler.Next(logits.AsSpan(0, V), probs);
        stats.PrefillMs = sw.Elapsed.TotalMilliseconds;
        sw.Restart();

        FinishReason? finish = Emit(root, logits.AsSpan(0, V), 0);
        while (finish is null)
        {
            int room = session.Context - session.Cache.Length;
            if (room <= 0) { finish = FinishReason.ContextFull; break; }
            int budget = Math.Min(treeBudget.Next(), room);

            long t0 = Stopwatch.GetTimestamp();
            int asked = _drafter.Transform.DraftNodes(budget);
            DraftTree tree = _drafter.Propose(root, asked);                 // candidate tree under the pending root
            CheckProposal(tree, asked, root);
            tree = _drafter.Transform.Apply(tree, budget);                  // the CTC transform (CTC drafts only)
            long t1 = Stopwatch.GetTimestamp();
            session.Verify(tree, logits);                                   // one base forward over the tree
            CheckFinite(logits.AsSpan(0, tree.Count * V), session.Cache.Length);
            long t2 = Stopwatch.GetTimestamp();
            Accepted accepted = request.Sampling.IsGreedy                   // longest accepted path + bonus token
                ? Acceptance.Greedy(tree, logits, V)
                : Acceptance.Sample(tree, logits, V, sampler, probs);
            ReadOnlySpan<float> hidden = session.Commit(tree, accepted.Path); // accepted K/V into the cache
            _drafter.Observe(accepted.Path.Select(tree.Token).ToArray(), hidden);
            long t3 = Stopwatch.GetTimestamp();

            TimeSpan drafting = Stopwatch.GetElapsedTime(t0, t1) + Stopwatch.GetElapsedTime(t2, t3);
            treeBudget.Record(accepted.Path.Length - 1, drafting.TotalMilliseconds);
            stats.Step(accepted.Path.Length - 1, tree.Count - 1, drafting, Stopwatch.GetElapsedTime(t1, t2));

            int[] path = accepted.Path;
            for (int k = 1; k < path.Length && finish is null; k++) finish = Emit(tree.Token(path[k]), logits.AsSpan(path[k - 1] * V, V), k);
            finish ??= Emit(accepted.Bonus, logits.AsSpan(path[^1] * V, V), 0);
            root = accepted.Bonus;
        }
        stats.DecodeMs = sw.Elapsed.TotalMilliseconds;
        return new GenerationResult(tokens, output.Finish(), finish.Value, stats.Finish(tokens.Count)) { Logprobs = logprobs?.Items };
    }

    /// <summary>
    /// Refuses to go on from logits that are not finite (NaN or infinite weights, or an overflow): any token chosen
    /// from them would be arbitrary, and the text garbage with a success status.
    /// </summary>
    void CheckFinite(ReadOnlySpan<float> logits, int position)
    {
        foreach (float x in logits)
            if (!float.IsFinite(x))
                throw new InvalidDataException($"{_model.Folder}: the model computed non-finite logits ({x}) at position {position}: " +
                    "its weights hold NaN or infinite values, or overflow; it cannot be run");
    }

    void CheckProposal(DraftTree tree, int asked, int root)
    {
        if (tree.Count > asked || tree.Root != root)
            throw new InvalidOperationException($"drafter {_drafter.Name} proposed {tree.Count} nodes under root {tree.Root}; {asked} were asked under {root}");
    }
}
