using System.Text;
using System.Text.Json;

namespace CtcDrafter.Training.Data;

/// <summary>
/// The broad sources of the data folder (see its README): Project Gutenberg books, Wikipedia and Wikinews articles,
/// GPTeacher instructions and Topical-Chat conversations (both rendered in the Vicuna v1.1 template) and Python code.
/// </summary>
internal static class BroadSources
{
    public const string Gutenberg = "gutenberg";
    public const string Wikipedia = "wikipedia";
    public const string Wikinews = "wikinews";
    public const string GpTeacher = "gpteacher";
    public const string TopicalChat = "topical-chat";
    public const string Code = "code";

    /// <summary>Books are cut at paragraph boundaries into documents of at most this many characters.</summary>
    const int BookChunkChars = 6000;

    const string EndOfText = "<|endoftext|>";

    /// <summary>Every book, cut into chunks: each chunk is a document of its own (no EOS inside a book).</summary>
    public static IEnumerable<CorpusDocument> ReadGutenberg(string folder)
    {
        foreach (string book in TextDocuments(folder, "gutenberg-"))
        {
            string[] chunks = [.. CorpusReader.Chunks(book.Split("\n\n"), BookChunkChars)];
            for (int i = 0; i < chunks.Length; i++)
                yield return new CorpusDocument(Gutenberg, chunks[i], AppendEos: i == chunks.Length - 1);
        }
    }

    /// <summary>Articles: the title line, then the body (one line per paragraph), then EOS.</summary>
    public static IEnumerable<CorpusDocument> ReadArticles(string folder, string source) =>
        TextDocuments(folder, source + "-").Select(article => new CorpusDocument(source, article, AppendEos: true));

    /// <summary>One instruction (with its input, if any, after a blank line) as the user turn, the response as the answer.</summary>
    public static IEnumerable<CorpusDocument> ReadGpTeacher(string path) =>
        GpTeacherTurns(path).Select(turn => CorpusDocument.Chat(GpTeacher, VicunaTemplate.Render([turn])));

    /// <summary>The (user, assistant) turn of every GPTeacher example that has both.</summary>
    public static IEnumerable<(string User, string? Assistant)> GpTeacherTurns(string path)
    {
        foreach (var (line, row) in CorpusReader.ReadJsonLines(path))
        {
            string instruction = CorpusReader.GetString(row, "instruction", path, line).Trim();
            string input = CorpusReader.GetString(row, "input", path, line).Trim();
            string response = CorpusReader.GetString(row, "response", path, line).Trim();
            if (instruction.Length == 0 || response.Length == 0) continue;
            yield return (input.Length == 0 ? instruction : instruction + "\n\n" + input, response);
        }
    }

    /// <summary>Each conversation of <see cref="TopicalChatTurns"/> as one chat document.</summary>
    public static IEnumerable<CorpusDocument> ReadTopicalChat(string folder) =>
        TopicalChatTurns(folder).Select(turns => CorpusDocument.Chat(TopicalChat, VicunaTemplate.Render(turns)));

    /// <summary>
    /// Each conversation as alternating turns: agent_1 speaks as the user, agent_2 as the assistant (every
    /// conversation opens with agent_1); a last unanswered message is dropped, and so is a conversation left empty.
    /// </summary>
    public static IEnumerable<List<(string User, string? Assistant)>> TopicalChatTurns(string folder)
    {
        foreach (string path in Directory.GetFiles(folder, "topical_chat_*.jsonl").Order(StringComparer.Ordinal))
            foreach (var (line, row) in CorpusReader.ReadJsonLines(path))
            {
                if (!row.TryGetProperty("turns", out var turns) || turns.ValueKind != JsonValueKind.Array)
                    throw new TrainingInputException($"{path}:{line}: missing array field \"turns\"");
                var messages = turns.EnumerateArray().Select(t => CorpusReader.GetString(t, "message", path, line).Trim()).ToList();
                var pairs = new List<(string, string?)>();
                for (int i = 0; i + 1 < messages.Count; i += 2)
                    if (messages[i].Length > 0 && messages[i + 1].Length > 0) pairs.Add((messages[i], messages[i + 1]));
                if (pairs.Count > 0) yield return pairs;
            }
    }

    /// <summary>Every Python file, opened by its <c># file: PATH</c> line (a Python comment that names it), then EOS.</summary>
    public static IEnumerable<CorpusDocument> ReadCode(string folder)
    {
        foreach (string path in Directory.GetFiles(folder, "thealgorithms-python-*.txt").Order(StringComparer.Ordinal))
        {
            var file = new StringBuilder();
            foreach (string line in CorpusReader.ReadText(path).Split('\n'))
            {
                if (line.StartsWith("# file: ", StringComparison.Ordinal))
                {
                    if (file.ToString().Trim().Length > 0) yield return new CorpusDocument(Code, file.ToString().Trim('\n'), AppendEos: true);
                    file.Clear();
                }
                file.Append(line).Append('\n');
            }
            if (file.ToString().Trim().Length > 0) yield return new CorpusDocument(Code, file.ToString().Trim('\n'), AppendEos: true);
        }
    }

    /// <summary>The documents of the files <c>PREFIX*.txt</c> in name order, split on the <c>&lt;|endoftext|&gt;</c> lines.</summary>
    static IEnumerable<string> TextDocuments(string folder, string prefix)
    {
        if (!Directory.Exists(folder)) throw new TrainingInputException($"corpus folder not found: {folder}");
        string[] files = Directory.GetFiles(folder, prefix + "*.txt").Order(StringComparer.Ordinal).ToArray();
        if (files.Length == 0) throw new TrainingInputException($"corpus files not found: {Path.Combine(folder, prefix + "*.txt")}");
        foreach (string path in files)
            foreach (string document in CorpusReader.ReadText(path).Split(EndOfText))
            {
                string text = document.Trim();
                if (text.Length > 0) yield return text;
            }
    }
}
