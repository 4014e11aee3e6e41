using System.Text;

namespace CtcDrafter.Text;

/// <summary>A prompt being rendered by a <see cref="ChatTemplate"/>: the template's markup and the messages' contents,
/// with the spans of the contents kept so that special-token texts inside them are encoded as plain text.</summary>
internal sealed class ChatText
{
    private readonly StringBuilder text = new();
    private readonly List<Range> contentSpans = [];

    public int Length => text.Length;

    /// <summary>The character ranges of message contents.</summary>
    public IReadOnlyList<Range> ContentSpans => contentSpans;

    /// <summary>Appends template markup (its special-token texts become their ids).</summary>
    public ChatText Append(string markup)
    {
        text.Append(markup);
        return this;
    }

    /// <inheritdoc cref="Append(string)"/>
    public ChatText Append(char markup)
    {
        text.Append(markup);
        return this;
    }

    /// <summary>Appends a message's content (encoded as text, whatever it contains).</summary>
    public ChatText Content(string content)
    {
        if (content.Length > 0) contentSpans.Add(text.Length..(text.Length + content.Length));
        text.Append(content);
        return this;
    }

    public override string ToString() => text.ToString();
}
