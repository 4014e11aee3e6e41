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
    /// pieces, then <paramref name="pieces"/> (▁ for space) scored by position, the first highest.</summary>
    public static SentencePieceModel TinySentencePiece(params string[] pieces) => new()
    {
        Pieces = ["<unk>", "<s>", "</s>", .. Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"), .. pieces],
        Scores = [0, 0, 0, .. new float[256], .. pieces.Select((_, i) => -(float)i)],
        Types =
        [
            SentencePieceModel.PieceType.Unknown, SentencePieceModel.PieceType.Control, SentencePieceModel.PieceType.Control,
            .. Enumerable.Repeat(SentencePieceModel.PieceType.Byte, 256),
            .. pieces.Select(_ => SentencePieceModel.PieceType.Normal),
        ],
        Kind = SentencePieceModel.ModelKind.Bpe, ByteFallback = true, NormalizerName = "identity",
        AddDummyPrefix = true, RemoveExtraWhitespaces = false, EscapeWhitespaces = true,
    };
}

/// <summary>A temporary folder deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("ctcdrafter-text-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Write(string name, byte[] data)
    {
        System.IO.File.WriteAllBytes(File(name), data);
        return File(name);
    }

    public string Write(string name, string text)
    {
        System.IO.File.WriteAllText(File(name), text);
        return File(name);
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
