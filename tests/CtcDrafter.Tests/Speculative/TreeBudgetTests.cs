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
    static List<int> Run(TreeBudget budget, int steps, Func<int, int> accepted, Func<int, double>? draftForwards = null)
    {
        var used = new List<int>();
        for (int s = 0; s < steps; s++)
        {
            int n = budget.Next();
            used.Add(n);
            budget.Record(accepted(n), 2 * (draftForwards?.Invoke(n) ?? 0));
        }
        return used;
    }

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
        Assert.Equal(32, used.Skip(50).GroupBy(n => n).MaxBy(g => g.Count())!.Key);
    }

    [Fact]
    public void CostlyVerificationKeepsTheTreeSmallWhenDeepTokensAreRejected()
    {
        // Only the first draft token is ever right and every extra node costs a full forward.
        var budget = new TreeBudget(32, Curve(t => t));
        List<int> used = Run(budget, 100, n => Math.Min(1, n - 1));
        Assert.Equal(2, used.Skip(50).GroupBy(n => n).MaxBy(g => g.Count())!.Key);
    }

    [Fact]
    public void DraftTimeIsWeighed()
    {
        // Verification is free but each node costs half a forward to draft, and acceptance saturates at 3 tokens.
        var budget = new TreeBudget(32, Curve(_ => 1));
        List<int> used = Run(budget, 100, n => Math.Min(3, n - 1), n => 0.5 * (n - 1));
        Assert.Equal(4, used.Skip(50).GroupBy(n => n).MaxBy(g => g.Count())!.Key);
    }

    [Fact]
    public void RecoversWhenTheTextGetsEasier()
    {
        // Nothing accepted for a long stretch shrinks the tree; then everything is accepted, and the budget must
        // find its way back up (an estimate that only learns from the depths it proposes never would).
        var budget = new TreeBudget(32, Curve(t => 1 + 0.02 * t));
        List<int> hard = Run(budget, 200, _ => 0);
        Assert.Equal(2, hard.Skip(100).GroupBy(n => n).MaxBy(g => g.Count())!.Key);
        List<int> easy = Run(budget, 400, n => n - 1);
        Assert.True(easy.Skip(300).Average() >= 16, $"mean budget {easy.Skip(300).Average()}");
    }

    [Fact]
    public void TheSameOutcomesGiveTheSameBudgets()
    {
        Func<int, int> outcome = n => (n * 7 + 3) % Math.Max(1, n);
        Assert.Equal(Run(new TreeBudget(24, Curve(t => 1 + 0.1 * t)), 200, outcome), Run(new TreeBudget(24, Curve(t => 1 + 0.1 * t)), 200, outcome));
    }
}
