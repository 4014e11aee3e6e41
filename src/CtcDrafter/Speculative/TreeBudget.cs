namespace CtcDrafter.Speculative;

/// <summary>
/// Hardware-aware tree size: per step, the number of nodes that maximises expected tokens per unit of time,
/// E(tokens | n nodes) / cost(n). The expected tokens come from the drafter's observed acceptance: a_d = the
/// rate at which depth d was accepted when depth d - 1 was (running estimate), so a path of depth k yields
/// 1 + a_1 + a_1 a_2 + ... tokens; the cost comes from the measured verification curve. Extra nodes beyond the
/// main path are assumed to add the same depth; the estimate is coarse for bushy trees but tracks the point
/// where verification stops being free, which is what matters on a CPU.
/// </summary>
public sealed class TreeBudget
{
    readonly VerifyCostCurve? _curve;
    readonly double[] _accept; // [maxNodes], index d - 1 for depth d
    readonly double[] _seen;

    /// <summary>A fixed budget when <paramref name="curve"/> is null; adaptive otherwise.</summary>
    public TreeBudget(int maxNodes, VerifyCostCurve? curve)
    {
        MaxNodes = Math.Max(1, maxNodes);
        _curve = curve;
        _accept = Enumerable.Repeat(0.5, MaxNodes).ToArray(); // prior: a coin flip per depth
        _seen = new double[MaxNodes];
    }

    public int MaxNodes { get; }
    public bool Adaptive => _curve is not null;

    /// <summary>Records a step: a path of <paramref name="proposedDepth"/> was offered and <paramref name="acceptedDepth"/> accepted.</summary>
    public void Record(int proposedDepth, int acceptedDepth)
    {
        for (int d = 1; d <= Math.Min(proposedDepth, acceptedDepth + 1) && d <= _accept.Length; d++)
        {
            // Running mean with a floor on the weight of new evidence so that the estimate follows the text.
            double w = 1 / Math.Min(++_seen[d - 1], 32);
            _accept[d - 1] += w * ((d <= acceptedDepth ? 1 : 0) - _accept[d - 1]);
        }
    }

    /// <summary>Nodes (root included) to ask of the drafter for the next step.</summary>
    public int Next()
    {
        if (_curve is null) return MaxNodes;
        // At least one draft token, whose verification is nearly free, keeps the acceptance estimate alive.
        int best = Math.Min(2, MaxNodes);
        double expected = 1 + _accept[0], reach = _accept[0], bestRate = expected / _curve.Cost(best);
        for (int n = 3; n <= MaxNodes; n++)
        {
            reach *= _accept[n - 2];
            expected += reach;
            double rate = expected / _curve.Cost(n);
            if (rate > bestRate * 1.0001) { best = n; bestRate = rate; }
        }
        return best;
    }
}
