using System.Text.Json.Nodes;
using CtcDrafter.Cli.Bench;
using CtcDrafter.Tests.Model;

namespace CtcDrafter.Tests.Cli;

/// <summary>`ctcdrafter bench`: every argument checked before the first prompt, outputs put in place as a whole.</summary>
public class BenchCommandTests
{
    static readonly string RefS = Path.Combine(TestData.RepoRoot, "models", "ref-s");

    static string Suite(TempDir dir, int prompts)
    {
        string path = Path.Combine(dir["suites"], $"s{prompts}.jsonl");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllLines(path, Enumerable.Range(0, prompts).Select(i =>
            $$"""{"question_id": {{i}}, "category": "writing", "turns": ["Tell me about cat number {{i}}."]}"""));
        return path;
    }

    static CliRunner.Result Bench(string suite, string output) =>
        CliRunner.Run("bench", "--model", RefS, "--methods", "vanilla,prompt-lookup", "--suite", suite, "--limit", "2", "-n", "6", "--tree", "4", "--out", output);

    [Fact]
    public void ResultsReplaceTheOldOnesAsAWholeAndKeepTheRestOfTheFolder()
    {
        using var dir = new TempDir();
        string output = dir["results"];
        Directory.CreateDirectory(Path.Combine(output, "ablation"));
        File.WriteAllText(Path.Combine(output, "ablation", "keep.md"), "kept");
        File.WriteAllText(Path.Combine(output, "results.md"), "old");
        Directory.CreateDirectory(Path.Combine(output, "answers", "old-suite"));
        File.WriteAllText(Path.Combine(output, "answers", "old-suite", "vanilla.jsonl"), "old");
        var r = Bench(Suite(dir, 2), output);
        Assert.Equal(0, r.ExitCode);
        Assert.All(new[] { "results.json", "results.md", "speedup.png", "answers/s2/vanilla.jsonl", "answers/s2/prompt-lookup.jsonl" },
            f => Assert.True(File.Exists(Path.Combine(output, f)), f));
        Assert.NotEqual("old", File.ReadAllText(Path.Combine(output, "results.md")));
        Assert.Equal(["s2"], Directory.GetDirectories(Path.Combine(output, "answers")).Select(Path.GetFileName));
        Assert.Equal("kept", File.ReadAllText(Path.Combine(output, "ablation", "keep.md")));
        Assert.Empty(Directory.GetDirectories(dir.Path, ".*tmp*"));
    }

    /// <summary>
    /// The fluent subset is the prompts whose vanilla output repeats little, summarised beside all prompts; the
    /// answer files hold every prompt's turns with the counts results.json reports.
    /// </summary>
    [Fact]
    public void FluentSubsetAndAnswerFilesAgreeWithThePerPromptResults()
    {
        using var dir = new TempDir();
        string suite = Path.Combine(dir.Path, "two-turns.jsonl"), output = dir["results"];
        File.WriteAllLines(suite, Enumerable.Range(0, 4).Select(i =>
            $$"""{"question_id": {{i}}, "category": "{{(i < 2 ? "writing" : "roleplay")}}", "turns": ["Tell me about cat number {{i}}.", "And a dog?"]}"""));
        var r = CliRunner.Run("bench", "--model", RefS, "--methods", "vanilla,prompt-lookup", "--suite", suite, "--limit", "4", "-n", "16", "--tree", "4", "--out", output);
        Assert.Equal(0, r.ExitCode);
        var s = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "results.json")))!["suites"]!["two-turns"]!;
        int all = s["prompts"]!.GetValue<int>(), fluent = s["fluentPrompts"]!.GetValue<int>();
        Assert.Equal(4, all);
        Assert.InRange(fluent, 1, all); // 3 of 4 on the committed ref-s at 16 tokens on the machines seen; all 4 would still test the summaries
        Assert.Contains($"{fluent} of {all} prompts fluent", File.ReadAllText(Path.Combine(output, "results.md")));
        var vanilla = s["methods"]!["vanilla"]!["perPrompt"]!.AsArray();
        double[] shares = [.. vanilla.Select(p => p!["repetition"]!.GetValue<double>()).Order()];
        Assert.Equal((shares[1] + shares[2]) / 2, s["repetitionMedian"]!.GetValue<double>(), tolerance: 2e-4); // per-prompt shares are rounded
        foreach (var (method, node) in s["methods"]!.AsObject())
        {
            var perPrompt = node!["perPrompt"]!.AsArray();
            var fluentSummary = node["fluent"]!;
            Assert.Equal(fluent, fluentSummary["prompts"]!.GetValue<int>());
            Assert.Equal(fluent, fluentSummary["categories"]!.AsObject().Sum(c => c.Value!["prompts"]!.GetValue<int>()));
            for (int i = 0; i < perPrompt.Count; i++)
            {
                double repetition = perPrompt[i]!["repetition"]!.GetValue<double>();
                Assert.InRange(repetition, 0, 1);
                Assert.Equal(vanilla[i]!["repetition"]!.GetValue<double>(), repetition); // the vanilla output's share
                Assert.Equal(repetition < Repetition.FluentBelow, perPrompt[i]!["fluent"]!.GetValue<bool>());
            }
            var fluentPrompts = perPrompt.Where(p => p!["fluent"]!.GetValue<bool>()).ToList();
            Assert.Equal(fluent, fluentPrompts.Count);
            double tau = (double)fluentPrompts.Sum(p => p!["newTokens"]!.GetValue<int>()) / fluentPrompts.Sum(p => p!["steps"]!.GetValue<int>());
            Assert.Equal(Math.Round(tau, 4), fluentSummary["tau"]!.GetValue<double>(), 4);
            double nodes = (double)fluentPrompts.Sum(p => p!["draftNodes"]!.GetValue<int>()) / fluentPrompts.Sum(p => p!["steps"]!.GetValue<int>());
            Assert.Equal(Math.Round(nodes, 4), fluentSummary["nodesPerStep"]!.GetValue<double>(), 4);

            string[] lines = File.ReadAllLines(Path.Combine(output, "answers", "two-turns", method + ".jsonl"));
            Assert.Equal(perPrompt.Count, lines.Length);
            for (int i = 0; i < lines.Length; i++)
            {
                var answer = JsonNode.Parse(lines[i])!;
                Assert.Equal(perPrompt[i]!["id"]!.GetValue<string>(), answer["question_id"]!.ToJsonString());
                Assert.Equal($"ref-s-{method}", answer["model_id"]!.GetValue<string>());
                Assert.True(answer["tstamp"]!.GetValue<double>() > 0);
                var choice = answer["choices"]!.AsArray().Single()!;
                Assert.Equal(0, choice["index"]!.GetValue<int>());
                Assert.Equal(2, choice["turns"]!.AsArray().Count);
                Assert.All(choice["turns"]!.AsArray(), t => Assert.NotEqual("", t!.GetValue<string>()));
                int[] newTokens = [.. choice["new_tokens"]!.AsArray().Select(n => n!.GetValue<int>())];
                int[] steps = [.. choice["decoding_steps"]!.AsArray().Select(n => n!.GetValue<int>())];
                int[] acceptLengths = [.. choice["accept_lengths"]!.AsArray().Select(n => n!.GetValue<int>())];
                Assert.Equal(2, newTokens.Length);
                Assert.Equal(perPrompt[i]!["newTokens"]!.GetValue<int>(), newTokens.Sum());
                Assert.Equal(perPrompt[i]!["steps"]!.GetValue<int>(), steps.Sum());
                Assert.Equal(steps.Sum(), acceptLengths.Length);
                Assert.All(acceptLengths, a => Assert.InRange(a, 1, method == "vanilla" ? 1 : 4));
                Assert.All(choice["wall_time"]!.AsArray(), t => Assert.True(t!.GetValue<double>() > 0));
            }
        }
    }

    /// <summary>A bench killed at any moment leaves the old results or the complete new ones, never a mix.</summary>
    [Fact]
    public void KilledAtAnyMomentItLeavesTheOldResultsOrTheNewOnes()
    {
        using var dir = new TempDir();
        string suite = Suite(dir, 2), output = dir["results"];
        var outcomes = new List<string>();
        foreach (double seconds in new[] { 0.3, 0.6, 0.9, 1.2, 1.5, 1.8, 2.2, 2.6, 3.2, 10 })
        {
            if (Directory.Exists(output)) Directory.Delete(output, recursive: true);
            Directory.CreateDirectory(output);
            File.WriteAllText(Path.Combine(output, "results.md"), "old");
            File.WriteAllText(Path.Combine(output, "results.json"), "{\"old\": true}");
            CliRunner.RunKilledAfter(TimeSpan.FromSeconds(seconds),
                "bench", "--model", RefS, "--methods", "vanilla,prompt-lookup", "--suite", suite, "--limit", "2", "-n", "6", "--tree", "4", "--out", output);
            string[] files = [.. Directory.GetFiles(output).Select(Path.GetFileName).Order()!];
            bool old = File.ReadAllText(Path.Combine(output, "results.md")) == "old";
            if (old) Assert.Equal(["results.json", "results.md"], files);
            else
            {
                Assert.Equal(["results.json", "results.md", "speedup.png"], files);
                Assert.NotNull(System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(output, "results.json")))!["suites"]);
            }
            outcomes.Add(old ? "old" : "new");
        }
        Assert.Equal("old", outcomes[0]); // killed before its first prompt finished
        Assert.Equal("new", outcomes[^1]); // the last run had time to finish
        Assert.Empty(Directory.GetDirectories(dir.Path, ".*"));
    }

    [Fact]
    public void BadArgumentsAreReportedBeforeAnyPromptRuns()
    {
        using var dir = new TempDir();
        string output = dir["results"];
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "results.md"), "old");
        void AssertRefused(CliRunner.Result r, string expected)
        {
            Assert.Equal(2, r.ExitCode);
            Assert.StartsWith("error: ", r.Stderr.TrimStart());
            Assert.Contains(expected, r.Stderr);
            Assert.DoesNotContain("prompt 1/", r.Stderr); // nothing ran
        }
        AssertRefused(Bench(Suite(dir, 2) + ",no-such-suite", output), "no-such-suite");
        AssertRefused(Bench(Suite(dir, 0), output), "has no prompts");
        string file = Path.Combine(dir.Path, "a-file");
        File.WriteAllText(file, "");
        AssertRefused(Bench(Suite(dir, 2), Path.Combine(file, "results")), "cannot write there");
        string bad = Path.Combine(dir.Path, "bad.jsonl");
        foreach (var (line, expected) in new[]
        {
            ("""{"turns": [1, 2]}""", "line 2: turn 0 is 1, not a string"),
            ("""{"turns": [null]}""", "line 2: turn 0 is null, not a string"),
            ("""{"turns": ["hi"], "category": 5}""", "line 2: field 'category' must be a string"),
            ("""{"turns": "hi"}""", "line 2: no 'turns' list"),
            ("""[1]""", "line 2: not a JSON object"),
        })
        {
            File.WriteAllLines(bad, ["""{"turns": ["fine"]}""", line]);
            AssertRefused(Bench(bad, output), expected);
        }
        Assert.Equal("old", File.ReadAllText(Path.Combine(output, "results.md")));
    }

    /// <summary>`bench batch`: every method at every stream count, each answer the one-stream answer of its prompt.</summary>
    [Fact]
    public void BatchBenchmarkMeasuresEveryMethodAtEveryStreamCount()
    {
        using var dir = new TempDir();
        string output = Path.Combine(dir.Path, "batch.json");
        var r = CliRunner.Run("bench", "batch", "--model", RefS, "--methods", "vanilla,ctc", "--streams", "3", "--suite", Suite(dir, 5), "--limit", "5", "-n", "8", "--out", output);
        Assert.True(r.ExitCode == 0, r.Stderr);
        JsonArray runs = JsonNode.Parse(File.ReadAllText(output))!["runs"]!.AsArray();
        Assert.Equal(["vanilla 1", "vanilla 3", "ctc 1", "ctc 3"], runs.Select(x => $"{x!["method"]} {x["streams"]}"));
        Assert.All(runs, x =>
        {
            Assert.Equal(5, (int)x!["requests"]!);
            Assert.True((bool)x["identicalToOneStream"]!);
            Assert.InRange((int)x["tokens"]!, 5, 40);
            Assert.True((double)x["tokensPerSecond"]! > 0);
        });
        Assert.Contains("| ctc | 3 | 5 |", r.Stdout);
        Assert.Contains("--streams: 'x' is not a positive number", CliRunner.Run("bench", "batch", "--model", RefS, "--streams", "x").Stderr);
    }

    /// <summary>`bench engine`: the bandwidth and the decode fraction come from reads and forwards taken in pairs, the verify cost from interleaved rounds.</summary>
    [Fact]
    public void EngineBenchmarkReportsItsFiguresAsJson()
    {
        var r = CliRunner.Run("bench", "engine", "--model", RefS, "--threads", "1", "--repeats", "3", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        JsonNode res = JsonNode.Parse(r.Stdout)!;
        double gbs = (double)res["bandwidthGBs"]!, ms = (double)res["decodeMsPerToken"]!, fraction = (double)res["bandwidthFraction"]!;
        Assert.True(gbs > 0.1 && ms > 0 && double.IsFinite(gbs) && double.IsFinite(ms), $"{gbs} GB/s, {ms} ms");
        Assert.True(fraction > 0 && double.IsFinite(fraction), $"fraction {fraction}");
        Assert.Equal(["1", "2", "4", "8", "16"], res["verifyCost"]!.AsObject().Select(kv => kv.Key));
        Assert.Equal(1, (double)res["verifyCost"]!["1"]!);
        Assert.True((double)res["prefillTokensPerSecond"]! > 0);
    }
}
