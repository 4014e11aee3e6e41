using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Tests.Model;

/// <summary>
/// For a model stored in bf16 (the committed reference models), the bf16 runtime holds the same weight values as the
/// f32 runtime and its kernel widens them in registers and sums in the same order, so both compute bit-identical
/// hidden states and logits: bf16 decoding is f32 decoding at half the bytes per token.
/// </summary>
public class Bf16FileTests
{
    [Theory]
    [InlineData("ref-s")]
    [InlineData("ref-m")]
    public void Bf16RuntimeOfABf16FileIsBitIdenticalToF32(string model)
    {
        string folder = Path.Combine(TestData.RepoRoot, "models", model);
        using var f32 = LlamaModel.Load(folder, new EngineOptions(WeightFormat.F32));
        using var bf16 = LlamaModel.Load(folder, new EngineOptions(WeightFormat.BF16));
        int[] tokens = [.. f32.Tokenizer!.Encode("Once upon a time, there was a little dog named Max. He liked to run in the park.", addBos: true)];
        Assert.Equal(f32.SequenceHiddenStates(tokens), bf16.SequenceHiddenStates(tokens));
        Assert.Equal(f32.SequenceLogits(tokens), bf16.SequenceLogits(tokens));
    }
}
