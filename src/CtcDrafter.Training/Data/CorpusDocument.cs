namespace CtcDrafter.Training.Data;

/// <summary>One training document.</summary>
/// <param name="Source">The corpus it comes from (see <see cref="CorpusReader"/>).</param>
/// <param name="Text">The text; in chat documents every <c>&lt;/s&gt;</c> stands for the end-of-sequence token.</param>
/// <param name="AppendEos">Whether an end-of-sequence token follows the text (plain text documents).</param>
/// <param name="IsChat">A conversation in the Vicuna template, whose <c>&lt;/s&gt;</c> markers are end-of-sequence tokens;
/// in any other document <c>&lt;/s&gt;</c> is plain text.</param>
internal sealed record CorpusDocument(string Source, string Text, bool AppendEos, bool IsChat = false)
{
    /// <summary>A conversation rendered in the Vicuna template (its answers end with <c>&lt;/s&gt;</c>).</summary>
    public static CorpusDocument Chat(string source, string text) => new(source, text, AppendEos: false, IsChat: true);
}
