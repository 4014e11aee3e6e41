using CtcDrafter.Text;
using static CtcDrafter.Text.SentencePieceModel.PieceType;

namespace CtcDrafter.Tests.Text;

/// <summary>SentencePiece's BPE rules on tiny models; every expected id list was produced by SentencePiece 0.1.97
/// (python3-sentencepiece) on the same model.</summary>
public class SentencePieceBpeTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private TextTokenizer Load(SentencePieceModel model) =>
        TextTokenizer.Load(dir.Write($"{Guid.NewGuid():N}.model", model.Serialize()));

    [Theory]
    [InlineData("!!!!!!", new[] { 259, 261, 261, 261 })] // equal scores: the leftmost pair merges first
    [InlineData("!!!!!", new[] { 259, 261, 262 })]
    [InlineData("!!!", new[] { 259, 262 })]
    [InlineData("x<x>x", new[] { 266, 264, 265 })] // a user-defined piece is matched whole and never merged
    [InlineData(" <x>", new[] { 259, 259, 264 })]
    public void TiesAndUserDefinedPieces(string text, int[] expected)
    {
        var tokenizer = Load(TestFiles.TinySentencePiece(
            [("\u2581", Normal), ("!", Normal), ("!!", Normal), ("!!!", Normal), ("\u2581!", Normal), ("<x>", UserDefined), ("x", Normal), ("\u2581x", Normal)]));
        Assert.Equal(expected, tokenizer.Encode(text, addBos: false));
        Assert.Equal(text, tokenizer.Decode(expected));
    }

    [Theory]
    [InlineData("ab", new[] { 263 })]
    [InlineData("abab", new[] { 263, 260, 261 })] // merged into the unused "ab", then split back into a, b
    [InlineData("b ab", new[] { 259, 261, 263 })]
    [InlineData("aab", new[] { 264, 260, 261 })]
    public void UnusedPieces_AreMergedThenResegmented(string text, int[] expected)
    {
        var tokenizer = Load(TestFiles.TinySentencePiece(
            [("\u2581", Normal), ("a", Normal), ("b", Normal), ("ab", Unused), ("\u2581ab", Normal), ("\u2581a", Normal), ("abab", Normal)]));
        Assert.Equal(expected, tokenizer.Encode(text, addBos: false));
    }

    [Theory]
    [InlineData("  x   x  ", new[] { 262, 262 }, "x x")]
    [InlineData("   ", new int[0], "")]
    [InlineData("x\t x", new[] { 262, 12, 262 }, "x\t x")]
    public void RemoveExtraWhitespaces(string text, int[] expected, string decoded)
    {
        var tokenizer = Load(TestFiles.TinySentencePiece(
            [("\u2581", Normal), ("!", Normal), ("x", Normal), ("\u2581x", Normal)], removeExtraWhitespaces: true));
        Assert.Equal(expected, tokenizer.Encode(text, addBos: false));
        Assert.Equal(decoded, tokenizer.Decode(expected));
    }

    [Fact]
    public void WithoutDummyPrefix_NothingIsAddedOrDropped()
    {
        var tokenizer = Load(TestFiles.TinySentencePiece([("\u2581", Normal), ("!", Normal), ("x", Normal), ("\u2581x", Normal)], addDummyPrefix: false));
        Assert.Equal([261, 262], tokenizer.Encode("x x", addBos: false));
        Assert.Equal([262], tokenizer.Encode(" x", addBos: false));
        Assert.Equal(" x", tokenizer.Decode([262]));
    }
}
