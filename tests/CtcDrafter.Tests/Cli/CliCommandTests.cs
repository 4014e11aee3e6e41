using System.Text.Json.Nodes;
using CtcDrafter.Tests.Model;

namespace CtcDrafter.Tests.Cli;

/// <summary>The commands a user types, on the committed default model (models/ref-s).</summary>
public class CliCommandTests
{
    static readonly string DefaultModel = Path.Combine(TestData.RepoRoot, "models", "ref-s");

    [Fact]
    public void GenerateStreamsAStory()
    {
        var r = CliRunner.Run("generate", "--model", DefaultModel, "--prompt", "Once upon a time", "--max-tokens", "40");
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith(", there was", r.Stdout);
        Assert.Contains("tokens/s", r.Stderr);
    }

    [Fact]
    public void TheSameSeedGivesTheSameTextAndAnotherSeedAnother()
    {
        string[] Args(string seed) => ["generate", "--model", DefaultModel, "--temperature", "1.0", "--top-p", "0.9", "--seed", seed, "--max-tokens", "60", "--json"];
        string text(CliRunner.Result r) => JsonNode.Parse(r.Stdout)!["text"]!.GetValue<string>();
        string a = text(CliRunner.Run(Args("7"))), b = text(CliRunner.Run(Args("7"))), c = text(CliRunner.Run(Args("8")));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void SpeculativeGenerationPrintsTheSameText()
    {
        var plain = CliRunner.Run("generate", "--model", DefaultModel, "--prompt", "Lily saw a dog. The dog", "--max-tokens", "80", "--json");
        var spec = CliRunner.Run("generate", "--model", DefaultModel, "--prompt", "Lily saw a dog. The dog", "--max-tokens", "80", "--json", "--method", "prompt-lookup");
        Assert.Equal(JsonNode.Parse(plain.Stdout)!["tokens"]!.ToJsonString(), JsonNode.Parse(spec.Stdout)!["tokens"]!.ToJsonString());
        Assert.Equal("prompt-lookup", JsonNode.Parse(spec.Stdout)!["stats"]!["method"]!.GetValue<string>());
    }

    [Fact]
    public void TokenizeReadsStandardInputAndPrintsJson()
    {
        var r = CliRunner.RunWithInput("Once upon a time", "tokenize", "--model", DefaultModel, "--json", "-");
        Assert.Equal(0, r.ExitCode);
        var ids = JsonNode.Parse(r.Stdout)!.AsArray().Select(n => n!.GetValue<int>()).ToArray();
        Assert.Equal(1, ids[0]);
        var noBos = CliRunner.Run("tokenize", "--model", DefaultModel, "--no-bos", "Once upon a time");
        Assert.Equal(string.Join(' ', ids.Skip(1)), noBos.Stdout.Trim());
    }

    [Fact]
    public void TokenizeKeepsSpecialTextPlainUnlessAsked()
    {
        var plain = CliRunner.Run("tokenize", "--model", DefaultModel, "--no-bos", "a</s>");
        var special = CliRunner.Run("tokenize", "--model", DefaultModel, "--no-bos", "--special", "a</s>");
        Assert.Equal(0, special.ExitCode);
        Assert.EndsWith(" 2", special.Stdout.Trim());
        Assert.DoesNotContain(" 2 ", " " + plain.Stdout.Trim() + " ");
    }

    [Fact]
    public void InspectShowsShapeAndSizes()
    {
        var r = CliRunner.Run("inspect", "--model", DefaultModel);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("layers       6, hidden 256", r.Stdout);
        Assert.Contains("parameters   5,401,856", r.Stdout);
        Assert.Contains("Q8", r.Stdout);
    }

    [Fact]
    public void ChatAnswersEachLineUntilEndOfInput()
    {
        var r = CliRunner.RunWithInput("Tell me a story.\n/reset\nAnother one.\n", "chat", "--model", DefaultModel, "--chat-template", "vicuna_v1.1", "--max-tokens", "20");
        Assert.Equal(0, r.ExitCode);
        // A prompt for each of the three lines and one more before end of input; two answers in between.
        Assert.Equal(4, r.Stdout.Split("> ").Length - 1);
        Assert.True(r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length >= 2);
    }
}
