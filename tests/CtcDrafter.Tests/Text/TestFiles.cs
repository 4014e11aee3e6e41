using CtcDrafter.Text;

namespace CtcDrafter.Tests.Text;

/// <summary>Committed fixtures (tests/CtcDrafter.Tests/Fixtures) and throwaway folders for the text tests.</summary>
internal static class TestFiles
{
    /// <summary>The path of a committed fixture, found by walking up from the test binaries to the repository.</summary>
    public static string Fixture(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "CtcDrafter.Tests", "Fixtures", name);
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"fixture {name} not found above {AppContext.BaseDirectory}");
    }

    /// <summary>A small SentencePiece BPE model with byte fallback: &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, the 256 byte
    /// pieces (ids 3..258), then <paramref name="pieces"/> (▁ for space) from id 259, scored by position, the
    /// first highest.</summary>
    public static SentencePieceModel TinySentencePiece(params string[] pieces) =>
        TinySentencePiece([.. pieces.Select(p => (p, SentencePieceModel.PieceType.Normal))]);

    /// <inheritdoc cref="TinySentencePiece(string[])"/>
    public static SentencePieceModel TinySentencePiece(
        (string Piece, SentencePieceModel.PieceType Type)[] pieces, bool addDummyPrefix = true, bool removeExtraWhitespaces = false) => new()
    {
        Pieces = ["<unk>", "<s>", "</s>", .. Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"), .. pieces.Select(p => p.Piece)],
        Scores = [0, 0, 0, .. new float[256], .. pieces.Select((_, i) => -(float)i)],
        Types =
        [
            SentencePieceModel.PieceType.Unknown, SentencePieceModel.PieceType.Control, SentencePieceModel.PieceType.Control,
            .. Enumerable.Repeat(SentencePieceModel.PieceType.Byte, 256),
            .. pieces.Select(p => p.Type),
        ],
        Kind = SentencePieceModel.ModelKind.Bpe, ByteFallback = true, NormalizerName = "identity",
        AddDummyPrefix = addDummyPrefix, RemoveExtraWhitespaces = removeExtraWhitespaces, EscapeWhitespaces = true,
    };
}
