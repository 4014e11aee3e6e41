using System.Diagnostics;
using CtcDrafter.Drafters;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Speculative;

namespace CtcDrafter.Generation;

/// <summary>
/// Speculative decoding with any drafter (plain decoding is the drafter that proposes nothing). The output is
/// the base model's own: token for token when greedy, with the same distribution when sampling.
/// </summary>
public sealed class Generator
{
    readonly LlamaModel _model;
    readonly IDrafter _drafter;
    readonly int _maxTreeNodes;
    readonly TreeBudget _budget;

    /// <param name="maxTreeNodes">Most tree nodes (root included) verified per step.</param>
    /// <param name="adaptive">
    /// Choose each step's tree size from the measured verification cost curve and the drafter's observed
    /// acceptance (hardware-aware); false verifies up to <paramref name="maxTreeNodes"/> every step.
    /// </param>
    public Generator(LlamaModel model, IDrafter? drafter = null, int maxTreeNodes = 16, bool adaptive = false)
    {
        (_model, _drafter, _maxTreeNodes) = (model, drafter ?? new NoDrafter(), Math.Max(1, maxTreeNodes));
        _budget = new TreeBudget(_maxTreeNodes, adaptive && _drafter is not NoDrafter ? model.VerifyCost : null);
    }

    /// <summary>Generates; <paramref name="onText"/> receives the text as tokens are committed.</summary>
    /// <exception cref="ArgumentException">The prompt is empty, holds ids outside the vocabulary, or does not fit the context.</exception>
    public GenerationResult Generate(GenerationRequest request, Action<string>? onText = null)
    {
        ModelConfig c = _model.Config;
        int V = c.VocabSize;
        Transformer t = _model.NewTransformer(Math.Max(128, _maxTreeNodes));
        CheckPrompt(request.PromptTokens, V, t.Cache.Capacity);
        var sampler = new Sampler(request.Sampling);
        var logits = new float[_maxTreeNodes * V];
        var probs = new float[V];
        var stats = new StatsRecorder(_drafter.Name, request.PromptTokens.Count);
        var output = new OutputText(_model.Tokenizer, request.StopStrings, onText);
        var tokens = new List<int>();

        // Emits one committed token; returns why generation ends after it, if it does.
        FinishReason? Emit(int token)
        {
            tokens.Add(token);
            if (c.EosTokenIds.Contains(token)) return FinishReason.EndOfSequence;
            if (output.Push(token)) return FinishReason.StopString;
            if (tokens.Count >= request.MaxNewTokens) return FinishReason.MaxTokens;
            return null;
        }

        _drafter.Reset();
        var sw = Stopwatch.StartNew();
        Prefill(t, request.PromptTokens, logits, _drafter);
        int root = sampler.Next(logits.AsSpan(0, V), probs);
        stats.PrefillMs = sw.Elapsed.TotalMilliseconds;
        sw.Restart();

        FinishReason? finish = Emit(root);
        while (finish is null)
        {
            int room = t.Cache.Capacity - t.Cache.Length;
            if (room <= 0) { finish = FinishReason.ContextFull; break; }

            long t0 = Stopwatch.GetTimestamp();
            int budget = Math.Min(_budget.Next(), room);
            DraftTree tree = _drafter.Propose(root, budget);
            if (tree.Count > budget || tree.Root != root)
                throw new InvalidOperationException($"drafter {_drafter.Name} proposed {tree.Count} nodes under root {tree.Root}; the budget was {budget} under {root}");
            long t1 = Stopwatch.GetTimestamp();
            var (ids, positions, parents) = tree.ForwardInputs(t.Cache.Length);
            int[] rows = Enumerable.Range(0, tree.Count).ToArray();
            t.Forward(ids, positions, parents, rows, logits);
            long t2 = Stopwatch.GetTimestamp();

            Accepted accepted = request.Sampling.IsGreedy
                ? Acceptance.Greedy(tree, logits, V)
                : Acceptance.Sample(tree, logits, V, sampler, probs);
            t.Cache.Commit(accepted.Path);
            _drafter.Observe(accepted.Path.Select(tree.Token).ToArray(), GatherHidden(t, accepted.Path));
            long t3 = Stopwatch.GetTimestamp();
            _budget.Record(accepted.Path.Length - 1, (Stopwatch.GetElapsedTime(t0, t1) + Stopwatch.GetElapsedTime(t2, t3)).TotalMilliseconds);
            stats.Step(accepted.Path.Length - 1, Stopwatch.GetElapsedTime(t0, t1) + Stopwatch.GetElapsedTime(t2, t3), Stopwatch.GetElapsedTime(t1, t2));

            for (int k = 1; k < accepted.Path.Length && finish is null; k++) finish = Emit(tree.Token(accepted.Path[k]));
            if (finish is null) finish = Emit(accepted.Bonus);
            root = accepted.Bonus;
        }
        stats.DecodeMs = sw.Elapsed.TotalMilliseconds;
        return new GenerationResult(tokens, output.Finish(), finish.Value, stats.Finish(tokens.Count));
    }

    static float[] GatherHidden(Transformer t, int[] path)
    {
        int H = t.Config.HiddenSize;
        ReadOnlySpan<float> all = t.Hidden(path[^1] + 1);
        var h = new float[path.Length * H];
        for (int i = 0; i < path.Length; i++) all.Slice(path[i] * H, H).CopyTo(h.AsSpan(i * H, H));
        return h;
    }

    internal static void CheckPrompt(IReadOnlyList<int> prompt, int vocab, int context)
    {
        if (prompt.Count == 0) throw new ArgumentException("the prompt is empty (give text, or at least a BOS token)");
        if (prompt.Count >= context)
            throw new ArgumentException($"the prompt has {prompt.Count} tokens but the context holds {context}: no room to generate");
        foreach (int id in prompt)
            if ((uint)id >= (uint)vocab) throw new ArgumentException($"prompt token id {id} is outside the vocabulary of {vocab}");
    }

    /// <summary>
    /// Runs the prompt through the model in causal chunks, showing each chunk to the drafter; the logits of the
    /// prompt's last token go to <paramref name="logits"/>.
    /// </summary>
    internal static void Prefill(Transformer t, IReadOnlyList<int> prompt, Span<float> logits, IDrafter? drafter = null)
    {
        int[] ids = [.. prompt];
        for (int start = 0; start < ids.Length; start += t.MaxTokens)
        {
            int n = Math.Min(t.MaxTokens, ids.Length - start), L = t.Cache.Length;
            int[] positions = Enumerable.Range(L, n).ToArray(), parents = Enumerable.Range(-1, n).ToArray();
            bool last = start + n == ids.Length;
            t.Forward(ids.AsSpan(start, n), positions, parents, last ? [n - 1] : [], logits);
            t.Cache.Advance(n);
            drafter?.Observe(ids.AsSpan(start, n), t.Hidden(n));
        }
    }
}
