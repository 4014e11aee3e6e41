using System.Text.Json;
using System.Text.Json.Nodes;
using CtcDrafter.Model;

namespace CtcDrafter.Cli.Bench;

/// <summary>The prompt suites of the paper (MT-bench, GSM8K) and of this project, read from ../shared/data.</summary>
static class Suites
{
    public const string GsmPrefix = "Please carefully read the following math question, give a solution and the final answer(put the final answer after ### at the end): ";

    public static readonly string[] Names = ["mt-bench", "gsm8k", "sharegpt", "stories"];

    /// <summary>The data folder: the option, else ../shared/data from the current folder or one of its parents.</summary>
    public static string DataDir(string? option)
    {
        if (option is not null)
            return Directory.Exists(option) ? option : throw new DirectoryNotFoundException($"{option}: data folder not found");
        for (var d = new DirectoryInfo(Directory.GetCurrentDirectory()); d is not null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "..", "shared", "data");
            if (Directory.Exists(candidate)) return Path.GetFullPath(candidate);
            candidate = Path.Combine(d.FullName, "shared", "data");
            if (Directory.Exists(candidate)) return Path.GetFullPath(candidate);
        }
        throw new DirectoryNotFoundException("no ../shared/data folder found from the current folder; give --data DIR");
    }

    public static List<BenchPrompt> Load(string suite, string? dataOption, int limit)
    {
        if (suite.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase)) return MtBenchShape(suite, limit);
        string data = DataDir(dataOption);
        return suite switch
        {
            "mt-bench" => MtBenchShape(Path.Combine(data, "prompts", "mt-bench", "mt_bench_question.jsonl"), limit),
            "gsm8k" => Lines(Path.Combine(data, "prompts", "gsm8k", "test.jsonl"), limit, (o, i) =>
                new BenchPrompt($"gsm8k-{i}", "math", [GsmPrefix + (JsonFields.Str(o, "question") ?? throw new FormatException("no 'question'"))])),
            "sharegpt" => ShareGpt(Path.Combine(data, "prompts", "sharegpt", "ShareGPT_V3_filtered_1000.json"), limit),
            "stories" => Stories(Path.Combine(data, "corpora", "tinystories", "tinystories_valid_head_yuninxia.txt"), limit),
            _ => throw new ArgumentException($"unknown suite '{suite}' ({string.Join(", ", Names)}, or a FILE.jsonl)"),
        };
    }

    /// <summary>The first <paramref name="limit"/> JSON-object lines of a file, each read by <paramref name="read"/>; any
    /// error names the file and the line.</summary>
    static List<BenchPrompt> Lines(string path, int limit, Func<JsonObject, int, BenchPrompt> read)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: not found");
        var prompts = new List<BenchPrompt>();
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            if (prompts.Count >= limit) break;
            try
            {
                var o = JsonNode.Parse(line) as JsonObject ?? throw new FormatException("not a JSON object");
                prompts.Add(read(o, prompts.Count));
            }
            catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
            {
                throw new FormatException($"{path}: line {lineNumber}: {e.Message}");
            }
        }
        return prompts;
    }

    /// <summary>MT-bench's shape: {question_id, category, turns: ["...", ...]}.</summary>
    static List<BenchPrompt> MtBenchShape(string path, int limit) => Lines(path, limit, (o, _) =>
    {
        var turns = o["turns"] as JsonArray ?? throw new FormatException("no 'turns' list");
        if (turns.Count == 0) throw new FormatException("'turns' is empty");
        var texts = turns.Select((t, i) => t is JsonValue v && v.GetValueKind() == JsonValueKind.String
            ? v.GetValue<string>() : throw new FormatException($"turn {i} is {t?.ToJsonString() ?? "null"}, not a string")).ToList();
        return new BenchPrompt(o["question_id"]?.ToJsonString() ?? "?", JsonFields.Str(o, "category") ?? "all", texts);
    });

    static List<BenchPrompt> ShareGpt(string path, int limit)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: not found");
        var all = JsonNode.Parse(File.ReadAllText(path)) as JsonArray ?? throw new FormatException($"{path}: not a JSON array");
        return all.OfType<JsonObject>()
            .Select(o => (Id: o["id"]?.ToString() ?? "?", Turn: (o["conversations"] as JsonArray)?.OfType<JsonObject>()
                .FirstOrDefault(c => c["from"]?.GetValue<string>() == "human")?["value"]?.GetValue<string>()))
            .Where(x => !string.IsNullOrWhiteSpace(x.Turn))
            .Take(limit).Select(x => new BenchPrompt(x.Id, "sharegpt", [x.Turn!])).ToList();
    }

    /// <summary>
    /// Openings of held-out TinyStories: the first sentence of each of the last 100 paragraphs opening with "Once "
    /// in the validation file, the stories the training corpus leaves out (CorpusReader.WithoutBenchmarkStories).
    /// </summary>
    static List<BenchPrompt> Stories(string path, int limit)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: not found");
        string[] paragraphs = System.Text.RegularExpressions.Regex.Split(File.ReadAllText(path), @"\n[ \t]*\n");
        return paragraphs.Select(p => p.Trim()).Where(p => p.StartsWith("Once ", StringComparison.Ordinal)).TakeLast(100)
            .Select(p => { int dot = p.IndexOf(". ", StringComparison.Ordinal); return (dot > 0 ? p[..(dot + 1)] : p).Replace('\n', ' '); })
            .Take(limit).Select((s, i) => new BenchPrompt($"story-{i}", "stories", [s], Raw: true)).ToList();
    }
}
