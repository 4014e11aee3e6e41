namespace CtcDrafter.Training.Data;

/// <summary>One training document.</summary>
/// <param name="Source">The corpus it comes from (see <see cref="CorpusReader"/>).</param>
/// <param name="Text">The text; in chat documents every <c>&lt;/s&gt;</c> stands for the end-of-sequence token.</param>
/// <param name="AppendEos">Whether an end-of-sequence token follows the text (plain text documents).</param>
internal sealed record CorpusDocument(string Source, string Text, bool AppendEos);
