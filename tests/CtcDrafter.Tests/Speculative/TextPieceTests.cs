using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Sampling;

namespace CtcDrafter.Tests.Speculative;

/// <summary>Streamed text pieces say how their token was made: the base model's own (depth 0) or an accepted draft token's depth.</summary>
public class TextPieceTests
{
    [Fact]
    public void EveryStepsAcceptedDraftTokensComeAtDepthsOneToKThenTheBaseModelsOwn()
    {
        string folder = Path.Combine(TestData.RepoRoot, "models", "ref-s");
        using var m = LlamaModel.Load(folder);
        var request = new GenerationRequest(m.Tokenizer!.Encode("Once upon a time", addBos: true), 60, SamplingOptions.Greedy);

        var plain = new List<TextPiece>();
        GenerationResult expected = new Generator(m).Generate(request, plain.Add);
        Assert.All(plain, p => Assert.Equal(0, p.Depth));
        Assert.Equal(expected.Text, string.Concat(plain.Select(p => p.Text)));

        var pieces = new List<TextPiece>();
        new Generator(m, DrafterFactory.Create("ctc", m, Path.Combine(folder, "draft-ctc"))).Generate(request, pieces.Add);
        Assert.Equal(expected.Text, string.Concat(pieces.Select(p => p.Text)));
        AssertStepShaped([.. pieces.Select(p => p.Depth)]);
    }

    /// <summary>Depths read as steps: the prefill's token, then per step 1, 2, ..., k accepted and the base model's 0.</summary>
    internal static void AssertStepShaped(int[] depths)
    {
        Assert.Equal(0, depths[0]);
        for (int i = 1; i < depths.Length; i++)
            Assert.True(depths[i] == 0 || depths[i] == depths[i - 1] + 1, $"depth {depths[i]} after {depths[i - 1]} at {i}: [{string.Join(", ", depths)}]");
        Assert.Contains(depths, d => d > 0); // the trained ctc draft gets tokens accepted on this prompt
    }
}
