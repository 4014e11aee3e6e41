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

    [Theory]
    [InlineData("--seed", "-1", "--seed")]
    [InlineData("--max-tokens", "abc", "--max-tokens")]
    [InlineData("--threads", "-1", "--threads must be between 0")]
    [InlineData("--threads", "1000", "--threads must be between 0")]
    [InlineData("--temperature", "Infinity", "temperature must be a finite number")]
    [InlineData("--stop", "", "a stop string must not be empty")]
    [InlineData("--tree", "65536", "--tree must be between 1 and 256")]
    [InlineData("--prompt-ids", "1,99999999999", "is not a comma-separated list of token ids")]
    [InlineData("--max-tokens", "0", "max tokens must be positive")]
    [InlineData("--context", "-5", "--context must be positive")]
    public void BadOptionsEndWithOneErrorLine(string option, string value, string expected)
    {
        string model = Path.Combine(TestData.RepoRoot, "models", "ref-s");
        string[] args = option == "--prompt-ids"
            ? ["generate", "--model", model, "--prompt-ids", value, "-n", "2"]
            : option == "--max-tokens" ? ["generate", "--model", model, "--prompt-ids", "1", option, value]
            : ["generate", "--model", model, "--prompt-ids", "1", "-n", "2", option, value];
        AssertCleanError(CliRunner.Run(args), expected);
    }

    [Theory]
    [InlineData("ctc,ctc", "method 'ctc' is given twice")]
    [InlineData(",", "--method is empty")]
    [InlineData("ctc,nope", "unknown method 'nope'")]
    public void ServeRefusesABadMethodList(string methods, string expected) =>
        AssertCleanError(CliRunner.Run("serve", "--model", Path.Combine(TestData.RepoRoot, "models", "ref-s"), "--method", methods, "--url", "http://127.0.0.1:0"), expected);

    [Fact]
    public void AModelFolderOfSymbolicLinksLoadsAsItsTargets()
    {
        // The Hugging Face cache: snapshots/<rev>/<file> -> ../../blobs/<hash>.
        using var dir = new TempDir();
        string source = TestModels.Write(dir, TestModels.Small(), name: "source");
        string blobs = Directory.CreateDirectory(Path.Combine(dir["cache"], "blobs")).FullName;
        string snapshot = Directory.CreateDirectory(Path.Combine(dir["cache"], "snapshots", "abc123")).FullName;
        foreach (string file in Directory.GetFiles(source))
        {
            string blob = Path.Combine(blobs, Path.GetFileName(file) + ".blob");
            File.Copy(file, blob);
            File.CreateSymbolicLink(Path.Combine(snapshot, Path.GetFileName(file)), Path.Combine("..", "..", "blobs", Path.GetFileName(blob)));
        }
        var linked = CliRunner.Run("generate", "--model", snapshot, "--prompt-ids", "1,2,3", "-n", "5", "--json");
        var direct = CliRunner.Run("generate", "--model", source, "--prompt-ids", "1,2,3", "-n", "5", "--json");
        Assert.Equal(0, linked.ExitCode);
        Assert.Equal(System.Text.Json.Nodes.JsonNode.Parse(direct.Stdout)!["tokens"]!.ToJsonString(),
            System.Text.Json.Nodes.JsonNode.Parse(linked.Stdout)!["tokens"]!.ToJsonString());
    }

    [Theory]
    [InlineData("--layers", "-1", "sizes must be positive")]
    [InlineData("--hidden", "0", "sizes must be positive")]
    [InlineData("--heads", "0", "must be a positive multiple")]
    [InlineData("--heads", "32", "head dimension 3 must be even")]
    [InlineData("--ffn", "65536", "beyond 2^31 elements")]
    public void ConvertRandomRefusesABadShapeAndWritesNothing(string option, string value, string expected)
    {
        using var dir = new TempDir();
        string[] shape = option switch
        {
            "--ffn" => ["--hidden", "65536", "--heads", "1024", "--kv-heads", "1024"],
            "--hidden" => [],
            _ => ["--hidden", "96"],
        };
        var r = CliRunner.Run(["convert", "random", "--out", dir["out"], .. shape, option, value]);
        AssertCleanError(r, expected);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void ConvertRandomRefusesANonEmptyFolder()
    {
        using var dir = new TempDir();
        File.WriteAllText(Path.Combine(Directory.CreateDirectory(dir["out"]).FullName, "keep.txt"), "mine");
        AssertCleanError(CliRunner.Run("convert", "random", "--out", dir["out"], "--hidden", "64", "--heads", "4", "--kv-heads", "2", "--layers", "1", "--vocab", "32"),
            "the output folder exists and is not empty");
        Assert.Equal(["keep.txt"], Directory.GetFileSystemEntries(dir["out"]).Select(Path.GetFileName));
    }

    [Fact]
    public void MissingModelFolder() =>
        AssertCleanError(CliRunner.Run("generate", "--model", "/nonexistent/model", "--prompt-ids", "1"), "/nonexistent/model: model folder not found");

    [Fact]
    public void WithoutTheDefaultModelTheErrorSaysHowToGetOne()
    {
        // The built (not packed) tool has no model beside it, and an empty folder has no models/ref-s.
        using var dir = new TempDir();
        AssertCleanError(CliRunner.RunIn(dir.Path, "generate", "--prompt", "Once upon a time"), "pass --model DIR");
    }

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
