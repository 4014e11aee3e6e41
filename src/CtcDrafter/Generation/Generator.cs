using System.Diagnostics;
using CtcDrafter.Drafters;
using CtcDrafter.Model;
using CtcDrafter.Speculative;

namespace CtcDrafter.Generation;

/// <summary>
/// Speculative decoding with any drafter (plain decoding is the drafter that proposes nothing), one sequence at a
/// time; the output is the base model's own by construction (see <see cref="Decoding"/>). A generator keeps its
/// sequence (a <see cref="Session"/>) between calls: a prompt that extends the previous one prefills only its new
/// tokens. Not thread-safe: one generation at a time (<see cref="BatchGenerator"/> serves several at once).
/// </summary>
public sealed class Generator
{
    readonly LlamaModel _model;
    readonly IDrafter _drafter;
    readonly int _maxTreeNodes;
    readonly bool _adaptive;
    TreeBudget? _budget;
    Session? _session;
    Transformer? _pass;
    float[]? _logits;

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
    public int Context => _model.ContextLength;

    // Made on the first generation, not in the constructor: an adaptive budget needs the model's verification
    // cost curve, a measurement of some forward passes (once per model), which constructing must not block on.
    TreeBudget Budget => _budget ??= new TreeBudget(_maxTreeNodes, _adaptive ? _model.VerifyCost : null);

    /// <summary>Generates; <paramref name="onText"/> receives the text as tokens are committed, each piece with its token's draft depth.</summary>
    /// <exception cref="ArgumentException">
    /// The prompt is empty, holds ids outside the vocabulary, or does not fit the context; or the request is invalid.
    /// </exception>
    public GenerationResult Generate(GenerationRequest request, Action<TextPiece>? onText = null)
    {
        TreeBudget budget = Budget;
        _session ??= new Session(_model, _drafter.Features);
        _pass ??= _model.NewPass(Math.Max(Transformer.PrefillChunk, Math.Max(_maxTreeNodes, budget.MaxNodes)), _drafter.Features);
        _logits ??= new float[Math.Max(_maxTreeNodes, budget.MaxNodes) * _model.Config.VocabSize]; // [tree nodes, vocab]
        var decoding = new Decoding(_session, _drafter, budget, request, onText);
        while (decoding.Plan(decoding.Drafting ? budget.Next() : 0) is ForwardPart part)
        {
            long start = Stopwatch.GetTimestamp();
            _pass.Forward([part], _logits);
            decoding.Complete(_pass, 0, _logits, Stopwatch.GetElapsedTime(start));
        }
        return decoding.Result();
    }
}
