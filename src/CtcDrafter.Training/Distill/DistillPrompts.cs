using System.Text.Json;
using System.Text.RegularExpressions;
using CtcDrafter.Training.Data;

namespace CtcDrafter.Training.Distill;

/// <summary>
/// The prompts of self-distillation, from the data folder: ShareGPT first human turns (both files under
/// prompts/sharegpt), GSM8K train questions with the evaluation prefix, the first user turns of the guanaco
/// (OpenAssistant) conversations, the first sentences of TinyStories train stories, and from every broad source of
/// the corpus its training documents' openings: the first sentence of a book chunk, an article's title line and
/// first sentence, a Python file up to its first definition (all continued raw), a GPTeacher instruction and a
/// Topical-Chat conversation's first message (both as user messages). MT-bench, GSM8K test and the TinyStories valid
/// file are evaluation data and are never read here, and neither are the first
/// <see cref="ShareGptBenchmarkConversations"/> conversations of ShareGPT_V3_filtered_1000.json, from whose start the
/// benchmark's sharegpt suite takes its prompts, nor the broad sources' held-out documents.
/// </summary>
internal static partial class DistillPrompts
{
    public const string ShareGpt = "sharegpt";
    public const string Gsm8k = "gsm8k";
    public const string Guanaco = "guanaco";
    public const string TinyStories = "tinystories";

    public static readonly string[] Sources =
    [
        ShareGpt, Gsm8k, Guanaco, TinyStories, BroadSources.Gutenberg, BroadSources.Wikipedia, BroadSources.Wikinews,
        BroadSources.GpTeacher, BroadSources.TopicalChat, BroadSources.Code,
    ];

    /// <summary>A Python prompt is cut after this many lines when no definition comes sooner.</summary>
    const int CodePromptLines = 12;

    /// <summary>Conversations at the start of the first ShareGPT file left to the benchmark.</summary>
    public const int ShareGptBenchmarkConversations = 100;

    static readonly string[] ShareGptFiles =
        ["ShareGPT_V3_filtered_1000.json", "sg_90k_part1_html_cleaned_lang_first_sampled_sorted.json"];

    /// <summary>Every source's prompts in file order, duplicates removed.</summary>
    public static Dictionary<string, List<DistillPrompt>> ReadAll(string dataFolder)
    {
        if (!Directory.Exists(dataFolder))
            throw new TrainingInputException(
                $"data folder not found: {Path.GetFullPath(dataFolder)} (pass --data with the folder that holds prompts/ and corpora/)");
        string corpora = Path.Combine(dataFolder, "corpora");
        return new Dictionary<string, List<DistillPrompt>>
        {
            [ShareGpt] = Distinct(ShareGpt, true, ShareGptTraining(Path.Combine(dataFolder, "prompts", "sharegpt"))),
            [Gsm8k] = Distinct(Gsm8k, true, CorpusReader.ReadJsonLines(Path.Combine(corpora, "gsm8k", "train.jsonl")).Select(r =>
                VicunaTemplate.Gsm8kInstruction + CorpusReader.GetString(r.Row, "question", Path.Combine(corpora, "gsm8k", "train.jsonl"), r.Line))),
            [Guanaco] = Distinct(Guanaco, true, ReadGuanaco(Path.Combine(corpora, "guanaco", "guanaco_llama2_1k.jsonl"))),
            [TinyStories] = Distinct(TinyStories, false, CorpusReader.TrainStories(Path.Combine(corpora, "tinystories"))
                .Select(FirstSentence).OfType<string>()),
            [BroadSources.Gutenberg] = Distinct(BroadSources.Gutenberg, false,
                Training(BroadSources.ReadGutenberg(Path.Combine(corpora, "gutenberg"))).Select(d => FirstSentence(d.Text)).OfType<string>()),
            [BroadSources.Wikipedia] = Distinct(BroadSources.Wikipedia, false,
                Training(BroadSources.ReadArticles(Path.Combine(corpora, "wikipedia"), BroadSources.Wikipedia)).Select(ArticleOpening).OfType<string>()),
            [BroadSources.Wikinews] = Distinct(BroadSources.Wikinews, false,
                Training(BroadSources.ReadArticles(Path.Combine(corpora, "wikinews"), BroadSources.Wikinews)).Select(ArticleOpening).OfType<string>()),
            [BroadSources.GpTeacher] = Distinct(BroadSources.GpTeacher, true,
                BroadSources.GpTeacherTurns(Path.Combine(corpora, "instruct", "gpteacher.jsonl"))
                    .Where(turn => !TokenCorpus.IsHeldOut(CorpusDocument.Chat(BroadSources.GpTeacher, VicunaTemplate.Render([turn]))))
                    .Select(turn => turn.User)),
            [BroadSources.TopicalChat] = Distinct(BroadSources.TopicalChat, true,
                BroadSources.TopicalChatTurns(Path.Combine(corpora, "instruct"))
                    .Where(turns => !TokenCorpus.IsHeldOut(CorpusDocument.Chat(BroadSources.TopicalChat, VicunaTemplate.Render(turns))))
                    .Select(turns => turns[0].User)),
            [BroadSources.Code] = Distinct(BroadSources.Code, false,
                Training(BroadSources.ReadCode(Path.Combine(corpora, "code"))).Select(d => CodeOpening(d.Text))),
        };
    }

    /// <summary>The documents the corpus trains on (its held-out split is left to measure the base model).</summary>
    static IEnumerable<CorpusDocument> Training(IEnumerable<CorpusDocument> documents) => documents.Where(d => !TokenCorpus.IsHeldOut(d));

    /// <summary>An article's title line, a newline and the first sentence of its body; null when the body has none.</summary>
    internal static string? ArticleOpening(CorpusDocument article)
    {
        string[] lines = article.Text.Split('\n', 2);
        return lines.Length == 2 && FirstSentence(lines[1]) is { } sentence ? lines[0].Trim() + "\n" + sentence : null;
    }

    /// <summary>A Python file's lines up to its first <c>def</c> or <c>class</c> line, at most <see cref="CodePromptLines"/>.</summary>
    internal static string CodeOpening(string file)
    {
        string[] lines = file.Split('\n');
        int end = Math.Min(lines.Length, CodePromptLines);
        for (int i = 1; i < end; i++)
            if (lines[i].StartsWith("def ", StringComparison.Ordinal) || lines[i].StartsWith("class ", StringComparison.Ordinal))
            {
                end = i + 1;
                break;
            }
        return string.Join('\n', lines[..end]);
    }

    /// <summary>
    /// The work plan: up to <paramref name="perSource"/> prompts of each source that <paramref name="fits"/>, each
    /// source in an order drawn from the seed, interleaved round robin so that a partial run is balanced.
    /// </summary>
    public static List<DistillPrompt> Plan(Dictionary<string, List<DistillPrompt>> all, int perSource, long seed, Func<DistillPrompt, bool> fits)
    {
        var chosen = Sources.Select((source, s) =>
        {
            var prompts = all[source];
            return SeededPermutation.Of(prompts.Count, seed, s).Select(i => prompts[i]).Where(fits).Take(perSource).ToList();
        }).ToList();
        var plan = new List<DistillPrompt>();
        for (int i = 0; i < perSource; i++)
            foreach (var list in chosen)
                if (i < list.Count) plan.Add(list[i]);
        return plan;
    }

    static List<DistillPrompt> Distinct(string source, bool chat, IEnumerable<string> texts) =>
        texts.Select(t => t.Trim()).Where(t => t.Length > 0).Distinct(StringComparer.Ordinal)
            .Select((text, i) => new DistillPrompt($"{source}-{i}", source, text, chat)).ToList();

    static IEnumerable<string> ShareGptTraining(string folder)
    {
        var first = ReadShareGpt(Path.Combine(folder, ShareGptFiles[0]));
        var benchmark = first.Take(ShareGptBenchmarkConversations).OfType<string>().Select(t => t.Trim()).ToHashSet(StringComparer.Ordinal);
        return first.Skip(ShareGptBenchmarkConversations).Concat(ReadShareGpt(Path.Combine(folder, ShareGptFiles[1])))
            .OfType<string>().Where(t => !benchmark.Contains(t.Trim()));
    }

    /// <summary>The first human turn of every conversation of a ShareGPT file, or null where it has none.</summary>
    static List<string?> ReadShareGpt(string path)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(CorpusReader.ReadText(path));
        }
        catch (JsonException e)
        {
            throw new TrainingInputException($"{path}: not valid JSON ({e.Message})");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array)
                throw new TrainingInputException($"{path}: expected a JSON array of conversations");
            var texts = new List<string?>();
            foreach (var item in document.RootElement.EnumerateArray())
            {
                // The first turn, when it is a human's (a few entries are empty or open with "system"/"gpt").
                bool human = item.ValueKind == JsonValueKind.Object && item.TryGetProperty("conversations", out var turns)
                    && turns.ValueKind == JsonValueKind.Array && turns.GetArrayLength() > 0
                    && turns[0].ValueKind == JsonValueKind.Object
                    && turns[0].TryGetProperty("from", out var from) && from.ValueKind == JsonValueKind.String && from.GetString() == "human"
                    && turns[0].TryGetProperty("value", out var value) && value.ValueKind == JsonValueKind.String;
                texts.Add(human ? item.GetProperty("conversations")[0].GetProperty("value").GetString() : null);
            }
            return texts;
        }
    }

    static IEnumerable<string> ReadGuanaco(string path) =>
        CorpusReader.ReadJsonLines(path).Select(r => CorpusReader.Llama2Turns(CorpusReader.GetString(r.Row, "text", path, r.Line), path, r.Line)[0].User);

    /// <summary>The first sentence of a story, its whitespace runs made single spaces; null when there is none.</summary>
    internal static string? FirstSentence(string story)
    {
        var m = Sentence().Match(Whitespace().Replace(story.Trim(), " "));
        return m.Success ? m.Groups[1].Value : null;
    }

    [GeneratedRegex(@"^(.+?[.!?][""'”]?)(?=\s|$)")]
    private static partial Regex Sentence();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
