using System.Text;

namespace CtcDrafter.Text;

/// <summary>
/// Decodes a stream of token ids incrementally. <see cref="Push"/> returns only complete characters: the bytes of
/// a character split over several byte-fallback tokens (an emoji as <c>&lt;0xF0&gt;&lt;0x9F&gt;&lt;0x98&gt;&lt;0x80&gt;</c>)
/// are held until the last one arrives. The concatenation of every <see cref="Push"/> and the final
/// <see cref="Flush"/> equals <see cref="TextTokenizer.Decode"/> of the same ids. Not thread-safe.
/// </summary>
public sealed class StreamingDecoder
{
    private readonly TextTokenizer tokenizer;
    private readonly Decoder utf8 = Utf8Text.Encoding.GetDecoder();
    private bool atStart;

    internal StreamingDecoder(TextTokenizer tokenizer, bool atStartOfText)
    {
        this.tokenizer = tokenizer;
        atStart = atStartOfText;
    }

    /// <summary>Adds one token and returns the text it completes (often empty for a partial character).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The id is outside the vocabulary.</exception>
    public string Push(int id) => Convert(tokenizer.Surface(id, ref atStart), flush: false);

    /// <summary>Returns what is still held at the end of the stream; each byte of an incomplete character becomes
    /// U+FFFD, as in SentencePiece.</summary>
    public string Flush() => Convert([], flush: true);

    private string Convert(ReadOnlySpan<byte> bytes, bool flush)
    {
        int count = utf8.GetCharCount(bytes, flush);
        Span<char> chars = count <= 256 ? stackalloc char[count] : new char[count];
        int written = utf8.GetChars(bytes, chars, flush); // also keeps the bytes of an incomplete character
        return written == 0 ? "" : new string(chars[..written]);
    }
}
