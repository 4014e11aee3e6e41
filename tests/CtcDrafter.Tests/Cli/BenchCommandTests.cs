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
        var r = Bench(Suite(dir, 2), output);
        Assert.Equal(0, r.ExitCode);
        Assert.All(new[] { "results.json", "results.md", "speedup.png" }, f => Assert.True(File.Exists(Path.Combine(output, f)), f));
        Assert.NotEqual("old", File.ReadAllText(Path.Combine(output, "results.md")));
        Assert.Equal("kept", File.ReadAllText(Path.Combine(output, "ablation", "keep.md")));
        Assert.Empty(Directory.GetDirectories(dir.Path, ".*tmp*"));
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
}
