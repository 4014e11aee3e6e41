using CtcDrafter.Text;

namespace CtcDrafter.Tests.Text;

public class StreamingDecoderTests : IDisposable
{
    private readonly TempDir dir = new();
    private readonly TextTokenizer tokenizer;

    public StreamingDecoderTests()
    {
        var model = TestFiles.TinySentencePiece("\u2581", "H", "i", "!", "\u2581H", "\u2581Hi");
        tokenizer = TextTokenizer.Load(dir.Write("tokenizer.model", model.Serialize()));
    }

    public void Dispose() => dir.Dispose();

    [Fact]
    public void EmojiSplitOverByteTokens_IsEmittedOnlyWhenComplete()
    {
        var ids = tokenizer.Encode("Hi 😀!", addBos: true);
        // <s> ▁Hi ▁ <0xF0> <0x9F> <0x98> <0x80> !
        Assert.Equal([1, 264, 259, 3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80, 262], ids);
        var decoder = tokenizer.NewStreamingDecoder();
        var pieces = ids.Select(decoder.Push).ToList();
        Assert.Equal(["", "Hi", " ", "", "", "", "😀", "!"], pieces);
        Assert.Equal("", decoder.Flush());
    }

    [Fact]
    public void ZwjSequence_StreamsToTheSameTextAsDecode()
    {
        const string text = "👨\u200d👩\u200d👧 ok é";
        var ids = tokenizer.Encode(text, addBos: false);
        var decoder = tokenizer.NewStreamingDecoder();
        var pieces = ids.Select(decoder.Push).Append(decoder.Flush()).ToList();
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
        Assert.Equal(text, string.Concat(pieces));
        Assert.Equal(text, tokenizer.Decode(ids));
    }

    [Fact]
    public void LeadingSpace_IsDroppedAtStartOfText_NotWhenContinuing()
    {
        var ids = tokenizer.Encode("Hi", addBos: false); // ▁Hi
        Assert.Equal("Hi", tokenizer.Decode(ids));
        Assert.Equal("Hi", tokenizer.NewStreamingDecoder().Push(ids[0]));
        Assert.Equal(" Hi", tokenizer.NewStreamingDecoder(atStartOfText: false).Push(ids[0]));
        // Control tokens before the first piece do not count as text.
        Assert.Equal("Hi", tokenizer.Decode([1, 1, .. ids, 2]));
    }

    [Fact]
    public void InvalidBytes_BecomeOneReplacementCharacterEach_AsInSentencePiece()
    {
        var decoder = tokenizer.NewStreamingDecoder();
        Assert.Equal("", decoder.Push(3 + 0xF0));
        Assert.Equal("", decoder.Push(3 + 0x9F));
        Assert.Equal("\uFFFD\uFFFD", decoder.Flush());
        Assert.Equal("\uFFFD\uFFFD", tokenizer.Decode([3 + 0xF0, 3 + 0x9F]));
        Assert.Equal("\uFFFD\uFFFD Hi", tokenizer.Decode([3 + 0xE6, 3 + 0x9A, 264]));
        decoder = tokenizer.NewStreamingDecoder();
        Assert.Equal(["", "", "\uFFFD\uFFFD Hi"], new[] { 3 + 0xE6, 3 + 0x9A, 264 }.Select(decoder.Push));
    }

    [Fact]
    public void IdOutsideVocabulary_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.NewStreamingDecoder().Push(tokenizer.VocabSize));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([-1]));
    }
}
