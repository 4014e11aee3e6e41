using CtcDrafter.Generation;
using CtcDrafter.Sampling;
using CtcDrafter.Tests.Model;

namespace CtcDrafter.Tests.Speculative;

/// <summary>The per-step accepted lengths of a generation's statistics agree with its other counters.</summary>
public class StepStatsTests
{
    [Fact]
    public void TheRecorderKeepsEachStepsAcceptedLengthInOrder()
    {
        var recorder = new StatsRecorder("test", promptTokens: 5);
        foreach (int accepted in new[] { 2, 0, 3 }) recorder.Step(accepted, draftNodes: 4, TimeSpan.Zero, TimeSpan.Zero);
        GenerationStats stats = recorder.Finish(newTokens: 9);
        Assert.Equal(12, stats.DraftNodes);
        Assert.Equal([2, 0, 3], stats.AcceptedPerStep);
        Assert.Equal([2, 2, 1], stats.AcceptedPerDepth);
        Assert.Equal(3, stats.Steps);
    }

    [Fact]
    public void EachStepsAcceptedLengthAccountsForTheTokensItEmitted()
    {
        using var dir = new TempDir();
        using var m = TestModels.Load(TestModels.Write(dir, TestModels.Small(), seed: 7));
        var rng = new Random(3);
        int[] prompt = TestModels.RandomTokens(rng, 6, m.Config.VocabSize);
        var request = new GenerationRequest(prompt, 40, SamplingOptions.Greedy);
        GenerationResult plain = new Generator(m).Generate(request);
        var drafter = new OracleDrafter([.. plain.Tokens], prompt.Length, m.Config.VocabSize, seed: 1, errorRate: 0.1, depth: 8);
        GenerationStats s = new Generator(m, drafter, maxTreeNodes: 16).Generate(request).Stats;

        IReadOnlyList<int> perStep = s.AcceptedPerStep;
        Assert.Equal(s.Steps, perStep.Count);
        Assert.Contains(perStep, a => a > 1); // speculation was exercised
        Assert.InRange(s.DraftNodes, perStep.Sum(), 15 * s.Steps); // at most 16 nodes a step, the root not counted
        for (int d = 0; d < s.AcceptedPerDepth.Count; d++) Assert.Equal(s.AcceptedPerDepth[d], perStep.Count(a => a > d));
        // The first token comes from the prefill; every step but the last emits its accepted tokens and one of its
        // own; the last emits at least one, at most as many, ending the run.
        int beforeLast = 1 + perStep.SkipLast(1).Sum(a => a + 1);
        Assert.InRange(s.NewTokens - beforeLast, 1, perStep[^1] + 1);
    }
}
