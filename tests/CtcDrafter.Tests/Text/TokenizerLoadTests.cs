using System.Text;
using CtcDrafter.Text;

namespace CtcDrafter.Tests.Text;

public class TokenizerLoadTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private static byte[] TinyModel() => TestFiles.TinySentencePiece("\u2581", "a", "b", "\u2581a").Serialize();

    [Fact]
    public void Folder_PrefersTokenizerModel_AndReadsAddedTokensFromConfig()
    {
        dir.Write("tokenizer.model", TinyModel());
        dir.Write("tokenizer.json", "{ this would not parse");
        dir.Write("tokenizer_config.json", """
            {"bos_token": {"content": "<s>"}, "eos_token": "</s>",
             "added_tokens_decoder": {"2": {"content": "</s>", "special": true},
                                      "263": {"content": "<pad>", "special": true},
                                      "264": {"content": "<tool>", "special": false}}}
            """);
        var tokenizer = TextTokenizer.Load(dir.Path);
        Assert.Equal((265, 1, 2), (tokenizer.VocabSize, tokenizer.BosId, tokenizer.EosId));
        Assert.Equal([262, 263], tokenizer.Encode("a<pad>", false, parseSpecial: true));
        Assert.Equal([262, 264, 262], tokenizer.Encode("a<tool>a", false));
        // Every segment between added tokens gets its own dummy prefix, as in Hugging Face's legacy Llama tokenizer.
        Assert.Equal("a<tool> a", tokenizer.Decode([1, 262, 263, 264, 262, 2]));
    }

    [Fact]
    public void EmptyAndWhitespaceText_EncodeToNothingButBos()
    {
        var tokenizer = TextTokenizer.Load(dir.Write("tokenizer.model", TinyModel()));
        Assert.Empty(tokenizer.Encode("", addBos: false));
        Assert.Equal([1], tokenizer.Encode("", addBos: true));
        Assert.Equal([259, 259], tokenizer.Encode(" ", addBos: false));
        Assert.Equal("", tokenizer.Decode([]));
    }

    [Fact]
    public void MissingFileOrFolder_IsFileNotFoundNamingIt()
    {
        string missing = dir["nope.model"];
        var e = Assert.Throws<FileNotFoundException>(() => TextTokenizer.Load(missing));
        Assert.Contains(missing, e.Message);
        e = Assert.Throws<FileNotFoundException>(() => TextTokenizer.Load(dir.Path));
        Assert.Contains(dir.Path, e.Message);
        Assert.Contains("tokenizer.model", e.Message);
    }

    public static TheoryData<string, byte[]> BrokenModels => new()
    {
        { "truncated mid-field", TinyModel()[..(TinyModel().Length / 2)] },
        { "truncated at a field boundary", PiecesOnly() },
        { "garbage", Encoding.ASCII.GetBytes("\u0001\u0002 this is certainly not a protobuf message \u00ff") },
        { "empty", [] },
    };

    // Only the pieces of a model, as a file cut just before its trainer and normalizer specs would be.
    private static byte[] PiecesOnly()
    {
        var model = new ProtoWriter();
        foreach (string text in new[] { "<unk>", "<s>", "</s>", "\u2581" })
        {
            var piece = new ProtoWriter();
            piece.WriteString(1, text);
            piece.WriteFloat(2, 0);
            model.WriteMessage(1, piece);
        }
        return model.ToArray();
    }

    [Theory]
    [MemberData(nameof(BrokenModels))]
    public void CorruptModel_IsFormatErrorNamingTheFile(string what, byte[] data)
    {
        string path = dir.Write("tokenizer.model", data);
        var e = Assert.Throws<FormatException>(() => TextTokenizer.Load(path));
        Assert.True(e.Message.Contains(path), $"{what}: {e.Message}");
    }

    [Theory]
    [InlineData("{ \"model\": ")]
    [InlineData("{ \"model\": { \"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 300000000}, \"merges\": [] } }")]
    [InlineData("{ \"model\": { \"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [] }, \"added_tokens\": [{\"id\": 2147483000, \"content\": \"x\"}] }")]
    [InlineData("{ \"model\": { \"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 4294967296}, \"merges\": [] } }")]
    [InlineData("{ \"model\": { \"type\": \"BPE\", \"vocab\": {\"a\": -5}, \"merges\": [] } }")]
    [InlineData("{ \"version\": \"1.0\" }")]
    [InlineData("{ \"model\": { \"type\": \"BPE\", \"vocab\": [1, 2], \"merges\": [] } }")]
    [InlineData("{ \"model\": { \"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b c\"] } }")]
    [InlineData("{ \"model\": { \"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"] }, \"pre_tokenizer\": {\"type\": \"ByteLevel\"} }")]
    public void MalformedTokenizerJson_IsFormatErrorNamingTheFile(string json)
    {
        string path = dir.Write("tokenizer.json", json);
        var e = Assert.Throws<FormatException>(() => TextTokenizer.Load(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void UnsupportedTokenizerJsonModel_SaysSo()
    {
        string path = dir.Write("tokenizer.json", "{ \"model\": { \"type\": \"Unigram\", \"vocab\": [] } }");
        var e = Assert.Throws<NotSupportedException>(() => TextTokenizer.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("Unigram", e.Message);
    }

    [Fact]
    public void MalformedTokenizerConfig_IsFormatErrorNamingIt()
    {
        dir.Write("tokenizer.model", TinyModel());
        string config = dir.Write("tokenizer_config.json", "{ \"added_tokens_decoder\": { \"x\": {} } }");
        var e = Assert.Throws<FormatException>(() => TextTokenizer.Load(dir.Path));
        Assert.Contains(config, e.Message);
    }

    /// <summary>The committed tokenizer cut at every boundary between its top-level fields (after each piece, after
    /// the trainer spec) and at a spread of points inside fields: every cut is refused.</summary>
    [Fact]
    public void CommittedModel_CutAtAnyFieldBoundaryOrInsideAField_IsRefused()
    {
        byte[] real = File.ReadAllBytes(Path.Combine(TestData.RepoRoot, "models", "tokenizer", "tokenizer.model"));
        var cuts = new List<int>();
        var reader = new ProtoReader(real);
        while (reader.TryReadTag(out _, out int wire))
        {
            // Every top-level field of a ModelProto is length-delimited: cut after its tag, and after its payload.
            cuts.Add(reader.Position);
            Assert.Equal(ProtoReader.LengthDelimited, wire);
            reader.ReadBytes();
            if (reader.Position < real.Length) cuts.Add(reader.Position);
        }
        for (int cut = 7; cut < real.Length; cut += 997) cuts.Add(cut);
        foreach (int cut in cuts)
            Assert.Throws<FormatException>(() => SentencePieceModel.Parse(real.AsSpan(0, cut), "cut.model"));
        Assert.Equal(4096, SentencePieceModel.Parse(real, "whole.model").Pieces.Length);
    }

    [Theory]
    [InlineData("Once upon a time, there was a little girl named Lily.")]
    [InlineData("a          b\t\t\t\n\n\nc")]
    [InlineData("ＡＢＣ 😀😀 café é")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [InlineData("</s></s></s><s>")]
    public void MinimumTokens_NeverExceedsTheTokensOfTheText(string text)
    {
        var tok = TextTokenizer.Load(Path.Combine(TestData.RepoRoot, "models", "tokenizer"));
        foreach (string t in new[] { text, string.Concat(Enumerable.Repeat(text, 50)) })
        {
            Assert.True(tok.MinimumTokens(t) <= tok.Encode(t, addBos: false, parseSpecial: true).Count);
            Assert.True(tok.MinimumTokens(t) <= tok.Encode(t, addBos: false).Count);
        }
        Assert.True(tok.MinimumTokens(string.Concat(Enumerable.Repeat(text, 2000))) > 0);
    }

    [SharedDataFact]
    public void TruncatedRealModel_IsFormatError()
    {
        byte[] real = File.ReadAllBytes(TestData.SharedPath("tokenizers", "llama2", "tokenizer.model"));
        string path = dir.Write("tokenizer.model", real[..(real.Length - 100)]);
        var e = Assert.Throws<FormatException>(() => TextTokenizer.Load(path));
        Assert.Contains(path, e.Message);
    }
}
