using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace CtcDrafter.Training.Data;

/// <summary>
/// Reads the project's training corpus from a data folder laid out as <c>../shared/data</c>:
/// TinyStories (three files), GSM8K train and the guanaco conversations re-rendered in the Vicuna template,
/// Shakespeare cut into chunks, and the broad sources of <see cref="BroadSources"/>.
/// </summary>
internal static partial class CorpusReader
{
    public const string TinyStories = "tinystories";
    public const string Gsm8k = "gsm8k";
    public const string Guanaco = "guanaco";
    public const string Shakespeare = "shakespeare";

    /// <summary>The sources of the first corpus (ref-s and the first ref-m), in the order their documents are read.</summary>
    public static readonly string[] Sources = [TinyStories, Gsm8k, Guanaco, Shakespeare];

    /// <summary>Every source the reader knows, in the order their documents are read.</summary>
    public static readonly string[] AllSources =
    [
        .. Sources, BroadSources.Gutenberg, BroadSources.Wikipedia, BroadSources.Wikinews,
        BroadSources.GpTeacher, BroadSources.TopicalChat, BroadSources.Code,
    ];

    const int ShakespeareChunkChars = 2000;

    /// <summary>The default data folder: <c>../shared/data</c> from the current directory.</summary>
    public static string DefaultDataFolder => Path.GetFullPath(Path.Combine("..", "shared", "data"));

    /// <summary>All documents of the given sources (default: the first corpus's), in a fixed order.</summary>
    public static List<CorpusDocument> ReadAll(string dataFolder, IEnumerable<string>? sources = null)
    {
        string corpora = Path.Combine(dataFolder, "corpora");
        if (!Directory.Exists(corpora))
            throw new TrainingInputException(
                $"corpus folder not found: {Path.GetFullPath(corpora)} (pass --data with the folder that holds corpora/)");
        var wanted = (sources ?? Sources).ToHashSet();
        if (wanted.FirstOrDefault(s => !AllSources.Contains(s)) is { } unknown)
            throw new TrainingInputException($"unknown corpus source \"{unknown}\" (known: {string.Join(", ", AllSources)})");
        var documents = new List<CorpusDocument>();
        foreach (string source in AllSources.Where(wanted.Contains))
            documents.AddRange(source switch
            {
                TinyStories => ReadTinyStories(Path.Combine(corpora, "tinystories")),
                Gsm8k => ReadGsm8k(Path.Combine(corpora, "gsm8k", "train.jsonl")),
                Guanaco => ReadGuanaco(Path.Combine(corpora, "guanaco", "guanaco_llama2_1k.jsonl")),
                Shakespeare => ReadShakespeare(Path.Combine(corpora, "tinyshakespeare", "input.txt")),
                BroadSources.Gutenberg => BroadSources.ReadGutenberg(Path.Combine(corpora, "gutenberg")),
                BroadSources.Wikipedia => BroadSources.ReadArticles(Path.Combine(corpora, "wikipedia"), BroadSources.Wikipedia),
                BroadSources.Wikinews => BroadSources.ReadArticles(Path.Combine(corpora, "wikinews"), BroadSources.Wikinews),
                BroadSources.GpTeacher => BroadSources.ReadGpTeacher(Path.Combine(corpora, "instruct", "gpteacher.jsonl")),
                BroadSources.TopicalChat => BroadSources.ReadTopicalChat(Path.Combine(corpora, "instruct")),
                _ => BroadSources.ReadCode(Path.Combine(corpora, "code")),
            });
        return documents;
    }

    static IEnumerable<CorpusDocument> ReadTinyStories(string folder)
    {
        // tinystories_valid_head_yuninxia.txt separates stories and paragraphs alike by blank lines: a paragraph
        // opening with "Once " starts a new story (most TinyStories stories do, the rest stay with the one before).
        var stories = TrainStories(folder)
            .Concat(GroupStories(WithoutBenchmarkStories(BlankLines().Split(ReadText(Path.Combine(folder, "tinystories_valid_head_yuninxia.txt"))))));
        foreach (string story in stories)
        {
            string text = story.Trim();
            if (text.Length > 0) yield return new CorpusDocument(TinyStories, text, AppendEos: true);
        }
    }

    /// <summary>
    /// The stories of the two TinyStories train files (not the valid file, whose end the benchmark uses), untrimmed:
    /// one separates them by <c>&lt;|endoftext|&gt;</c>, the other by single newlines (paragraphs inside a story are
    /// separated by blank lines).
    /// </summary>
    internal static IEnumerable<string> TrainStories(string folder) =>
        ReadText(Path.Combine(folder, "tinystories_10k_minesoptml.txt")).Split("<|endoftext|>")
            .Concat(SingleNewline().Split(ReadText(Path.Combine(folder, "tinystories_train_head_smallgpt.txt"))));

    /// <summary>Stories at the end of the validation file kept out of training: the benchmark's "stories" suite.</summary>
    public const int BenchmarkStories = 100;

    /// <summary>
    /// Drops the last <see cref="BenchmarkStories"/> paragraphs that open with "Once " and everything after the first
    /// of them. The benchmark (src/CtcDrafter.Cli/Bench/Suites.cs) takes its openings from those paragraphs, so the
    /// "stories" suite continues stories the model never saw.
    /// </summary>
    static IEnumerable<string> WithoutBenchmarkStories(string[] paragraphs)
    {
        int[] openings = Enumerable.Range(0, paragraphs.Length).Where(i => paragraphs[i].Trim().StartsWith("Once ", StringComparison.Ordinal)).ToArray();
        int cut = openings.Length > BenchmarkStories ? openings[^BenchmarkStories] : 0;
        return paragraphs.Take(cut);
    }

    static IEnumerable<string> GroupStories(IEnumerable<string> paragraphs)
    {
        var story = new StringBuilder();
        foreach (string raw in paragraphs)
        {
            string paragraph = raw.Trim();
            if (paragraph.Length == 0) continue;
            if (paragraph.StartsWith("Once ", StringComparison.Ordinal) && story.Length > 0)
            {
                yield return story.ToString();
                story.Clear();
            }
            if (story.Length > 0) story.Append("\n\n");
            story.Append(paragraph);
        }
        if (story.Length > 0) yield return story.ToString();
    }

    static IEnumerable<CorpusDocument> ReadGsm8k(string path)
    {
        foreach (var (line, row) in ReadJsonLines(path))
        {
            string question = GetString(row, "question", path, line);
            string answer = GetString(row, "answer", path, line);
            string text = VicunaTemplate.Render([(VicunaTemplate.Gsm8kInstruction + question, Gsm8kAnswer.Clean(answer))]);
            yield return CorpusDocument.Chat(Gsm8k, text);
        }
    }

    static IEnumerable<CorpusDocument> ReadGuanaco(string path)
    {
        foreach (var (line, row) in ReadJsonLines(path))
            yield return CorpusDocument.Chat(Guanaco, VicunaTemplate.Render(Llama2Turns(GetString(row, "text", path, line), path, line)));
    }

    /// <summary>The (question, answer) turns of a Llama-2 chat text <c>&lt;s&gt;[INST] q [/INST] a &lt;/s&gt;...</c>.</summary>
    internal static List<(string User, string? Assistant)> Llama2Turns(string chat, string path, int line)
    {
        var turns = new List<(string, string?)>();
        int consumed = 0;
        foreach (Match m in Llama2Turn().Matches(chat))
        {
            if (m.Index != consumed) break;
            turns.Add((m.Groups[1].Value, m.Groups[2].Value));
            consumed = m.Index + m.Length;
        }
        if (turns.Count == 0 || consumed != chat.Length)
            throw new TrainingInputException($"{path}:{line}: not a Llama-2 chat text (<s>[INST] q [/INST] a </s>...)");
        return turns;
    }

    static IEnumerable<CorpusDocument> ReadShakespeare(string path) =>
        Chunks(BlankLines().Split(ReadText(path)), ShakespeareChunkChars).Select(chunk => new CorpusDocument(Shakespeare, chunk, AppendEos: true));

    /// <summary>
    /// Paragraphs (trimmed, empty ones dropped) gathered into chunks joined by blank lines, each of at most
    /// <paramref name="maxChars"/> characters unless one paragraph alone is longer.
    /// </summary>
    internal static IEnumerable<string> Chunks(IEnumerable<string> paragraphs, int maxChars)
    {
        var chunk = new StringBuilder();
        foreach (string raw in paragraphs)
        {
            string paragraph = raw.Trim();
            if (paragraph.Length == 0) continue;
            if (chunk.Length > 0 && chunk.Length + paragraph.Length > maxChars)
            {
                yield return chunk.ToString();
                chunk.Clear();
            }
            if (chunk.Length > 0) chunk.Append("\n\n");
            chunk.Append(paragraph);
        }
        if (chunk.Length > 0) yield return chunk.ToString();
    }

    internal static string ReadText(string path)
    {
        if (!File.Exists(path)) throw new TrainingInputException($"corpus file not found: {path}");
        return File.ReadAllText(path, Encoding.UTF8).ReplaceLineEndings("\n");
    }

    internal static IEnumerable<(int Line, JsonElement Row)> ReadJsonLines(string path)
    {
        if (!File.Exists(path)) throw new TrainingInputException($"corpus file not found: {path}");
        int number = 0;
        foreach (string line in File.ReadLines(path, Encoding.UTF8))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonElement row;
            try
            {
                using var document = JsonDocument.Parse(line);
                row = document.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new TrainingInputException($"{path}:{number}: not valid JSON ({e.Message})");
            }
            yield return (number, row);
        }
    }

    internal static string GetString(JsonElement row, string name, string path, int line) =>
        row.ValueKind == JsonValueKind.Object && row.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new TrainingInputException($"{path}:{line}: missing string field \"{name}\"");

    [GeneratedRegex(@"(?<!\n)\n(?!\n)")]
    private static partial Regex SingleNewline();

    [GeneratedRegex(@"\n[ \t]*\n")]
    private static partial Regex BlankLines();

    [GeneratedRegex(@"<s>\[INST\] (.*?) \[/INST\] (.*?) </s>", RegexOptions.Singleline)]
    private static partial Regex Llama2Turn();
}
