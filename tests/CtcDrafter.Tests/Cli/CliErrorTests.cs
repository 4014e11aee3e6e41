using CtcDrafter.Tests.Model;

namespace CtcDrafter.Tests.Cli;

public class CliErrorTests
{
    static void AssertCleanError(CliRunner.Result r, string expected)
    {
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(expected, r.Stderr);
        Assert.StartsWith("error: ", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr); // no stack trace
        Assert.Single(r.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public void MissingModelFolder() =>
        AssertCleanError(CliRunner.Run("generate", "--model", "/nonexistent/model", "--prompt-ids", "1"), "/nonexistent/model: model folder not found");

    [Fact]
    public void CorruptWeights()
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, TestModels.Small());
        File.WriteAllBytes(Path.Combine(folder, "model.safetensors"), [9, 9, 9, 9]);
        AssertCleanError(CliRunner.Run("generate", "--model", folder, "--prompt-ids", "1"), "model.safetensors: truncated");
    }

    [Fact]
    public void PromptLongerThanTheContext()
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, TestModels.Small());
        string ids = string.Join(',', Enumerable.Repeat(5, 300));
        AssertCleanError(CliRunner.Run("generate", "--model", folder, "--prompt-ids", ids), "the prompt has 300 tokens but the context holds 256");
    }

    [Fact]
    public void TokenOutsideTheVocabulary()
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, TestModels.Small());
        AssertCleanError(CliRunner.Run("generate", "--model", folder, "--prompt-ids", "1,500"), "prompt token id 500 is outside the vocabulary of 97");
    }

    [Fact]
    public void UnknownDtype()
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, TestModels.Small());
        AssertCleanError(CliRunner.Run("generate", "--model", folder, "--prompt-ids", "1", "--dtype", "int4"), "unknown --dtype 'int4'");
    }

    [Fact]
    public void GenerateJsonFollowsTheContract()
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, TestModels.Small());
        var r = CliRunner.Run("generate", "--model", folder, "--prompt-ids", "1,2,3", "--max-tokens", "7", "--json");
        Assert.Equal(0, r.ExitCode);
        var o = System.Text.Json.Nodes.JsonNode.Parse(r.Stdout)!.AsObject();
        Assert.Equal(7, o["tokens"]!.AsArray().Count);
        var stats = o["stats"]!.AsObject();
        foreach (string key in new[] { "method", "promptTokens", "newTokens", "steps", "tau", "acceptedPerDepth", "tokensPerSecond", "prefillMs", "decodeMs", "draftMs", "verifyMs" })
            Assert.True(stats.ContainsKey(key), key);
        Assert.Equal(3, (int)stats["promptTokens"]!);
        Assert.Equal(7, (int)stats["newTokens"]!);
        Assert.Equal(6, (int)stats["steps"]!); // the first token comes from the prefill
    }
}
