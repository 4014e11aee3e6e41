using CtcDrafter.Speculative;

namespace CtcDrafter.Tests.Speculative;

public class TreeBudgetTests
{
    // One single-token forward takes 2 ms.
    static VerifyCostCurve Curve(Func<int, double> cost) => new([0, .. Enumerable.Range(1, 32).Select(t => cost(t))], forwardMs: 2);

    /// <summary>
    /// Runs <paramref name="steps"/> steps where a budget of n nodes gets <paramref name="accepted"/>(n) draft
    /// tokens after drafting for <paramref name="draftForwards"/>(n) single-token forwards; returns the budgets.
    /// </summary>
    static List<int> Run(TreeBudget budget, int steps, Func<int, int> accepted, Func<int, double>? draftForwards = null, int sequences = 1)
    {
        var used = new List<int>();
        for (int s = 0; s < steps; s++)
        {
            int n = budget.Next(sequences);
            used.Add(n);
            for (int q = 0; q < sequences; q++) budget.Record(accepted(n), 2 * (draftForwards?.Invoke(n) ?? 0));
        }
        return used;
    }

    static int Modal(IEnumerable<int> budgets) => budgets.GroupBy(n => n).MaxBy(g => g.Count())!.Key;

    [Fact]
    public void WithoutACurveTheBudgetIsFixed()
    {
        var budget = new TreeBudget(16, null);
        Assert.All(Run(budget, 20, n => n - 1), n => Assert.Equal(16, n));
    }

    [Fact]
    public void FreeVerificationOfAPerfectDrafterGrowsToTheMaximum()
    {
        var budget = new TreeBudget(32, Curve(_ => 1));
        List<int> used = Run(budget, 100, n => n - 1);
        Assert.Equal(32, Modal(used.Skip(50)));
    }

    [Fact]
    public void CostlyVerificationKeepsTheTreeSmallWhenDeepTokensAreRejected()
    {
        // Only the first draft token is ever right and every extra node costs half a forward.
        var budget = new TreeBudget(32, Curve(t => 1 + 0.5 * (t - 1)));
        List<int> used = Run(budget, 100, n => Math.Min(1, n - 1));
        Assert.Equal(2, Modal(used.Skip(50)));
    }

    [Fact]
    public void DraftTimeIsWeighed()
    {
        // Verification is free but each node costs half a forward to draft, and acceptance saturates at 3 tokens.
        var budget = new TreeBudget(32, Curve(_ => 1));
        List<int> used = Run(budget, 100, n => Math.Min(3, n - 1), n => 0.5 * (n - 1));
        Assert.Equal(4, Modal(used.Skip(50)));
    }

    [Fact]
    public void RecoversWhenTheTextGetsEasier()
    {
        // Nothing accepted for a long stretch shrinks the tree; then everything is accepted, and the budget must
        // find its way back up (an estimate that only learns from the depths it proposes never would).
        var budget = new TreeBudget(32, Curve(t => 1 + 0.02 * t));
        List<int> hard = Run(budget, 200, _ => 0);
        Assert.Equal(1, Modal(hard.Skip(100))); // plain decoding while nothing is accepted
        List<int> easy = Run(budget, 400, n => n - 1);
        Assert.True(easy.Skip(300).Average() >= 16, $"mean budget {easy.Skip(300).Average()}");
    }

    /// <summary>
    /// Sequences sharing a compute-bound pass (cost linear beyond 4 rows) with a drafter whose gain grows as the
    /// logarithm of the tree: one sequence verifies 4 nodes, eight sharing the pass 2 at most (more users, smaller
    /// trees), since their 8 trees cost what one tree 8 times larger costs.
    /// </summary>
    [Fact]
    public void SequencesSharingAPassGetSmallerTrees()
    {
        static int Accepted(int n) => (int)Math.Log2(n);
        static VerifyCostCurve Bound() => Curve(t => t <= 4 ? 1 : t / 4.0);
        Assert.Equal(4, Modal(Run(new TreeBudget(32, Bound()), 200, Accepted).Skip(100)));
        Assert.True(Modal(Run(new TreeBudget(32, Bound()), 200, Accepted, sequences: 8).Skip(100)) <= 2);
    }

    [Fact]
    public void TheSameOutcomesGiveTheSameBudgets()
    {
        Func<int, int> outcome = n => (n * 7 + 3) % Math.Max(1, n);
        Assert.Equal(Run(new TreeBudget(24, Curve(t => 1 + 0.1 * t)), 200, outcome), Run(new TreeBudget(24, Curve(t => 1 + 0.1 * t)), 200, outcome));
    }
}
