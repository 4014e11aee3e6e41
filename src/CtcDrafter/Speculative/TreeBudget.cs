namespace CtcDrafter.Speculative;

/// <summary>
/// Hardware-aware tree size: per step, the node budget n that maximises expected tokens per unit of time,
/// E[tokens | n] / (verifyCost(n) + draftCost(n)), both costs in units of one single-token forward of the base
/// model. verifyCost is the engine's measured curve; draftCost and E[tokens | n] are observed, not modelled:
/// each candidate budget (an "arm": 1, 2, 3, 4, 6, 8, 12, 16, 24, 32 nodes up to the maximum; 1 is plain decoding,
/// the right choice when nothing is accepted or when the pass is compute-bound) keeps running means
/// of the tokens its steps committed and of the drafting time they took, so bushy trees, collapsed trees,
/// drafters that propose less than asked, and draft models whose cost is not their weight bytes (small models
/// that live in cache) are all measured as they are. Every arm is tried twice first; afterwards every fourth step tries a neighbour of the best arm,
/// so that an estimate made while the text was hard can recover when it gets easier. Deterministic given the
/// outcomes: the same accepted depths and draft times give the same budgets. Several sequences decoded in one
/// pass share a budget: each step asks once for all of them, the pass then verifies B trees of n nodes, costing
/// verifyCost(B n) for B steps' tokens, so the more sequences, the smaller each one's tree.
/// </summary>
public sealed class TreeBudget
{
    static readonly int[] Candidates = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32];
    const int InitialTries = 2, ExploreEvery = 4, Window = 8;

    readonly VerifyCostCurve? _curve;
    readonly int[] _arms;           // candidate budgets, ascending
    readonly double[] _tokens;      // [arms] running mean of tokens committed per step (accepted + bonus)
    readonly double[] _draft;       // [arms] running mean of drafting time per step, in single-token forwards
    readonly int[] _tries;          // [arms]
    int _steps, _current, _explore, _sequences = 1;

    /// <summary>A fixed budget when <paramref name="curve"/> is null; adaptive otherwise.</summary>
    public TreeBudget(int maxNodes, VerifyCostCurve? curve)
    {
        MaxNodes = Math.Max(1, maxNodes);
        _curve = curve;
        _arms = [.. Candidates.Where(n => n < MaxNodes).Append(MaxNodes).Distinct()];
        _tokens = new double[_arms.Length];
        _draft = new double[_arms.Length];
        _tries = new int[_arms.Length];
    }

    public int MaxNodes { get; }
    public bool Adaptive => _curve is not null;

    /// <summary>Nodes (root included) to ask of the drafter for the next step of each of <paramref name="sequences"/> sequences sharing the pass.</summary>
    public int Next(int sequences = 1)
    {
        _sequences = Math.Max(1, sequences);
        if (_curve is null) return MaxNodes;
        _steps++;
        int untried = Array.FindIndex(_tries, t => t < InitialTries);
        if (untried >= 0) _current = untried;
        else
        {
            int best = Enumerable.Range(0, _arms.Length).MaxBy(Rate);
            _current = best;
            if (_steps % ExploreEvery == 0)
            {
                _explore ^= 1; // alternately one arm up and one arm down
                _current = Math.Clamp(best + (_explore == 1 ? 1 : -1), 0, _arms.Length - 1);
            }
        }
        return _arms[_current];
    }

    /// <summary>
    /// Records the outcome of a step that used the last <see cref="Next"/> budget (once per sequence of the pass):
    /// <paramref name="acceptedDepth"/> draft tokens accepted, and its drafting took <paramref name="draftMs"/> milliseconds.
    /// </summary>
    public void Record(int acceptedDepth, double draftMs = 0)
    {
        if (_curve is null) return;
        int i = _current;
        double w = 1.0 / Math.Min(++_tries[i], Window); // running mean that follows the text after a while
        _tokens[i] += w * (acceptedDepth + 1 - _tokens[i]);
        _draft[i] += w * ((_curve.ForwardMs > 0 ? draftMs / _curve.ForwardMs : 0) - _draft[i]);
    }

    /// <summary>Expected tokens per unit of time and sequence with arm <paramref name="i"/>, the pass shared by the sequences.</summary>
    double Rate(int i) => _tokens[i] / (_curve!.Cost(_sequences * _arms[i]) / _sequences + _draft[i]);
}
