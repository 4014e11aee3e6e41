using CtcDrafter.Generation;
using CtcDrafter.Kernels;
using CtcDrafter.Sampling;
using CtcDrafter.Training.Data;
using CtcDrafter.Training.Distill;

namespace CtcDrafter.Training.Tests;

public class DistillTests(DistillFixture run) : IClassFixture<DistillFixture>
{
    [Fact]
    public void SamplesHoldTheBaseModelsGreedyAnswersMasksAndHiddenStates()
    {
        Assert.True(run.Result.Exit == 0, run.Result.Error);
        var (header, samples) = DistillStore.Read(run.Distilled);
        Assert.Equal(DistillPrompts.Sources.Order(), samples.Select(s => s.Source).Distinct().Order());
        var available = DistillPrompts.ReadAll(run.Data);
        Assert.All(DistillPrompts.Sources, source => Assert.Equal(Math.Min(2, available[source].Count), samples.Count(s => s.Source == source)));
        using var model = TinyBase.Load(run.Base);
        Assert.Equal(Drafters.BaseIdentity.Of(model), header.Base);
        var distiller = new Distiller(model, DistillFixture.MaxNewTokens, 512);
        var prompts = DistillPrompts.ReadAll(run.Data).Values.SelectMany(p => p).ToDictionary(p => p.Id);
        foreach (var sample in samples)
        {
            int[] prompt = distiller.Encode(prompts[sample.Id]);
            Assert.Equal(prompt, sample.Tokens[..prompt.Length]);
            Assert.Equal(1, prompt[0]);
            var plain = new Generator(model).Generate(new GenerationRequest(prompt, DistillFixture.MaxNewTokens, SamplingOptions.Greedy));
            Assert.Equal(plain.Tokens, sample.Tokens[prompt.Length..]);
            Assert.Equal(plain.Finish == FinishReason.EndOfSequence ? "eos" : "max_tokens", sample.Finish);
            Assert.Equal(Enumerable.Repeat((byte)0, prompt.Length).Concat(Enumerable.Repeat((byte)1, plain.Tokens.Count)), sample.Mask);

            float[] hidden = model.SequenceHiddenStates(sample.Tokens);
            Assert.Equal(hidden.Length, sample.Hidden.Length);
            for (int i = 0; i < hidden.Length; i++)
                Assert.Equal(Conversions.F32ToBf16(hidden[i]), sample.Hidden[i]);
        }
    }

    [Fact]
    public void ARerunAddsOnlyMissingSamplesAndClearsWhatAKilledRunLeft()
    {
        Assert.True(run.Result.Exit == 0, run.Result.Error);
        string folder = run["rerun"];
        Directory.CreateDirectory(folder);
        foreach (string file in Directory.GetFiles(run.Distilled)) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        byte[] firstShard = File.ReadAllBytes(Path.Combine(folder, "shard-00000.bin"));
        File.WriteAllText(Path.Combine(folder, "shard-00001.bin"), "a shard written before the index, then killed");
        File.WriteAllText(Path.Combine(folder, "index.json.tmp"), "{");

        var result = run.Distill(folder, 3);
        Assert.True(result.Exit == 0, result.Error);
        Assert.Contains("(2 already stored)", result.Out);
        var (_, samples) = DistillStore.Read(folder);
        int expected = DistillPrompts.ReadAll(run.Data).Values.Sum(p => Math.Min(3, p.Count));
        Assert.Equal(expected, samples.Count);
        Assert.Equal(expected, samples.Select(s => s.Id).Distinct().Count());
        Assert.Equal(firstShard, File.ReadAllBytes(Path.Combine(folder, "shard-00000.bin")));
        Assert.Equal(["index.json", "shard-00000.bin", "shard-00001.bin"], Directory.GetFiles(folder).Select(Path.GetFileName).Order());

        var again = run.Distill(folder, 3);
        Assert.Contains("(3 already stored)", again.Out);
        Assert.Equal(2, Directory.GetFiles(folder, "shard-*").Length);
    }

    [Fact]
    public void PromptsComeFromTheTrainingSourcesOnly()
    {
        var prompts = DistillPrompts.ReadAll(run.Data);
        // 8 distinct first human turns + 1; the benchmark's 100, the empty, "gpt" and turn-less entries are skipped,
        // duplicates removed.
        Assert.Equal(9, prompts[DistillPrompts.ShareGpt].Count);
        Assert.DoesNotContain(prompts[DistillPrompts.ShareGpt], p => p.Text.StartsWith("Benchmark", StringComparison.Ordinal));
        Assert.All(prompts[DistillPrompts.Gsm8k], p => Assert.StartsWith("Please carefully read the following math question", p.Text));
        Assert.Equal(8, prompts[DistillPrompts.Guanaco].Count);
        Assert.Equal("What is a ball?", prompts[DistillPrompts.Guanaco][0].Text);
        // TinyStories openings come from the train files, never from the valid file the benchmark uses ("Once ..." here).
        Assert.DoesNotContain(prompts[DistillPrompts.TinyStories], p => p.Text.StartsWith("Once", StringComparison.Ordinal));
        string[] raw = [DistillPrompts.TinyStories, BroadSources.Gutenberg, BroadSources.Wikipedia, BroadSources.Wikinews, BroadSources.Code];
        Assert.All(prompts.Values.SelectMany(p => p), p => Assert.Equal(!raw.Contains(p.Source), p.Chat));
        // The broad sources: openings of their training documents.
        Assert.Equal(["Lily (cat)\nLily is a cat.", "Ben\nBen is a dog."], prompts[BroadSources.Wikipedia].Select(p => p.Text));
        Assert.Equal(["Dog finds ball\nA dog found a ball today."], prompts[BroadSources.Wikinews].Select(p => p.Text));
        Assert.Equal(["Add the numbers.\n\n2 and 3", "Say hi."], prompts[BroadSources.GpTeacher].Select(p => p.Text));
        Assert.Equal(["Do you like cats?"], prompts[BroadSources.TopicalChat].Select(p => p.Text));
        Assert.Equal(["# file: maths/add.py\ndef add(a, b):", "# file: maths/sub.py\ndef sub(a, b):"], prompts[BroadSources.Code].Select(p => p.Text));
        Assert.Equal("Lily had a ball.", prompts[BroadSources.Gutenberg][0].Text);
    }

    [Fact]
    public void HeldOutDocumentsOfTheCorpusGiveNoPrompts()
    {
        // A folder of many one-line articles: about one in 50 is held out, and none of those may become a prompt.
        using var temp = new TempFolder();
        string data = TinyCorpus.Write(temp["data"]);
        string[] articles = [.. Enumerable.Range(0, 400).Select(i => $"Article {i}\nIt is a thing.")];
        File.WriteAllText(Path.Combine(data, "corpora", "wikipedia", "wikipedia-00.txt"), string.Join("\n<|endoftext|>\n", articles));
        var texts = DistillPrompts.ReadAll(data)[BroadSources.Wikipedia].Select(p => p.Text).ToHashSet();
        var heldOut = articles.Where(a => TokenCorpus.IsHeldOut(new CorpusDocument(BroadSources.Wikipedia, a, AppendEos: true))).ToList();
        Assert.NotEmpty(heldOut);
        Assert.Equal(articles.Length - heldOut.Count, texts.Count);
        Assert.DoesNotContain(heldOut, texts.Contains);
    }

    [SharedDataFact]
    public void SharedDataPromptsLeaveTheEvaluationSetsOut()
    {
        var prompts = DistillPrompts.ReadAll(TestPaths.SharedData);
        Assert.All(DistillPrompts.Sources, s => Assert.InRange(prompts[s].Count, 900, 30000));
        var texts = prompts.Values.SelectMany(p => p).Select(p => p.Text).ToHashSet();
        string Data(params string[] parts) => Path.Combine([TestPaths.SharedData, .. parts]);
        IEnumerable<string> Gsm8k(params string[] file) => File.ReadLines(Data(file))
            .Select(l => "Please carefully read the following math question, give a solution and the final answer(put the final answer after ### at the end): "
                + System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("question").GetString()!.Trim());
        Assert.Contains(Gsm8k("corpora", "gsm8k", "train.jsonl").First(), texts);
        Assert.DoesNotContain(Gsm8k("prompts", "gsm8k", "test.jsonl"), texts.Contains);
        var mtBench = File.ReadLines(Data("prompts", "mt-bench", "mt_bench_question.jsonl"))
            .SelectMany(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("turns").EnumerateArray().Select(t => t.GetString()!.Trim()));
        Assert.DoesNotContain(mtBench, texts.Contains);
        var benchmarkShareGpt = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Data("prompts", "sharegpt", "ShareGPT_V3_filtered_1000.json")))
            .RootElement.EnumerateArray().Take(DistillPrompts.ShareGptBenchmarkConversations)
            .SelectMany(c => c.GetProperty("conversations").EnumerateArray().Select(t => t.GetProperty("value").GetString()!.Trim()));
        Assert.DoesNotContain(benchmarkShareGpt, texts.Contains);
    }

    [Theory]
    [InlineData("Lily had a ball. One day it was lost.", "Lily had a ball.")]
    [InlineData("  \"Look!\" said Tom.\n\nThen he ran.", "\"Look!\"")]
    [InlineData("Is it 3.5 or more? Yes.", "Is it 3.5 or more?")]
    [InlineData("no end", null)]
    public void FirstSentence(string story, string? expected) => Assert.Equal(expected, DistillPrompts.FirstSentence(story));

    [Fact]
    public void BadInputsAreClearErrors()
    {
        AssertBadInput(CliRunner.Run("distill", "--model", run.Base, "--out", run["x1"], "--data", run["no-data"]), "data folder not found");
        AssertBadInput(CliRunner.Run("distill", "--model", run["no-model"], "--out", run["x2"], "--data", run.Data), "model folder not found");
        string blocker = run["blocker"];
        File.WriteAllText(blocker, "");
        AssertBadInput(run.Distill(Path.Combine(blocker, "out"), 1), "cannot write to the distillation folder");
        string other = TinyBase.Write(run["other-base"], seed: 9);
        AssertBadInput(run.Distill(run.Distilled, 2, other), "holds data distilled from base model");
    }

    internal static void AssertBadInput((int Exit, string Out, string Error) result, string expected)
    {
        Assert.Equal(2, result.Exit);
        Assert.StartsWith("error: ", result.Error);
        Assert.Contains(expected, result.Error);
        Assert.DoesNotContain("   at ", result.Error);
    }
}
