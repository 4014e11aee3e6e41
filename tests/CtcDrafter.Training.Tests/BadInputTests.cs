namespace CtcDrafter.Training.Tests;

public class BadInputTests(CliFixture run) : IClassFixture<CliFixture>
{
    (int Exit, string Out, string Error) Pretrain(string configJson, string[]? extra = null, string? data = null, string? output = null)
    {
        string config = run[$"config-{Guid.NewGuid():N}.json"];
        File.WriteAllText(config, configJson);
        return CliRunner.Run(["pretrain", "--config", config, "--data", data ?? run.Data, "--tokenizer", TestPaths.Tokenizer,
            "--out", output ?? run[$"out-{Guid.NewGuid():N}"], .. extra ?? []]);
    }

    static void AssertBadInput((int Exit, string Out, string Error) result, string expected)
    {
        Assert.Equal(2, result.Exit);
        Assert.StartsWith("error: ", result.Error);
        Assert.Contains(expected, result.Error);
        Assert.DoesNotContain("   at ", result.Error);
    }

    [Fact]
    public void MissingCorpusFolderLeavesNoRunFolder()
    {
        string output = run[$"out-{Guid.NewGuid():N}"];
        AssertBadInput(Pretrain(TinyRun.ConfigJson, data: run["no-such-data"], output: output), "corpus folder not found");
        Assert.False(Directory.Exists(output), "a failed start left its run folder behind");
    }

    [Fact]
    public void UnknownConfigField() =>
        AssertBadInput(Pretrain(TinyRun.ConfigJson.Replace("\"seq_len\"", "\"sequence_length\"")), "sequence_length");

    [Fact]
    public void UnknownOverride() => AssertBadInput(Pretrain(TinyRun.ConfigJson, ["--set", "model.layers=3"]), "layers");

    [Fact]
    public void BadConfigValue() =>
        AssertBadInput(Pretrain(TinyRun.ConfigJson.Replace("\"batch_size\": 4", "\"batch_size\": 0")), "batch_size must be positive");

    [Fact]
    public void WrongConfigType() =>
        AssertBadInput(Pretrain(TinyRun.ConfigJson.Replace("\"seq_len\": 32", "\"seq_len\": \"long\"")), "seq_len");

    [Fact]
    public void InconsistentModelShape() =>
        AssertBadInput(Pretrain(TinyRun.ConfigJson, ["--set", "model.num_key_value_heads=3"]), "num_key_value_heads");

    [Fact]
    public void MissingConfigFile() =>
        AssertBadInput(CliRunner.Run("pretrain", "--config", run["absent.json"], "--data", run.Data), "config file not found");

    [Fact]
    public void UnwritableOutput()
    {
        string file = run["a-file"];
        File.WriteAllText(file, "");
        AssertBadInput(Pretrain(TinyRun.ConfigJson, output: Path.Combine(file, "run")), "cannot write to the run folder");
    }

    [Fact]
    public void GarbageCheckpoint()
    {
        string folder = run["garbage-run"];
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "checkpoint.bin"), "not a checkpoint at all, just text");
        AssertBadInput(CliRunner.Run("pretrain", "--resume", folder, "--data", run.Data, "--tokenizer", TestPaths.Tokenizer),
            "corrupt checkpoint");
    }

    [Fact]
    public void TruncatedCheckpoint()
    {
        Assert.Equal(0, run.Result.Exit);
        string folder = run["truncated-run"];
        Directory.CreateDirectory(folder);
        byte[] checkpoint = File.ReadAllBytes(Path.Combine(run.Run, "checkpoint.bin"));
        File.WriteAllBytes(Path.Combine(folder, "checkpoint.bin"), checkpoint[..(checkpoint.Length / 2)]);
        AssertBadInput(CliRunner.Run("export", "--run", folder, "--data", run.Data, "--tokenizer", TestPaths.Tokenizer),
            "corrupt checkpoint");
        Assert.Equal(["checkpoint.bin"], Directory.GetFileSystemEntries(folder).Select(Path.GetFileName));
    }

    [Fact]
    public void NoCheckpointToResume()
    {
        AssertBadInput(CliRunner.Run("pretrain", "--resume", run["empty-run"], "--data", run.Data, "--tokenizer", TestPaths.Tokenizer),
            "no checkpoint to resume from");
        Assert.False(Directory.Exists(run["empty-run"]));
    }

    [Fact]
    public void ExportToAnUnwritablePlaceLeavesNothing()
    {
        Assert.Equal(0, run.Result.Exit);
        string file = run["blocker"];
        File.WriteAllText(file, "");
        AssertBadInput(CliRunner.Run("export", "--run", run.Run, "--out", Path.Combine(file, "model"), "--data", run.Data,
            "--tokenizer", TestPaths.Tokenizer), "cannot write the model folder");
        Assert.DoesNotContain(Directory.GetFileSystemEntries(Path.GetDirectoryName(file)!), p => p.Contains(".tmp-"));
    }

    [Fact]
    public void StartingOverAnExistingRunIsRefused() =>
        AssertBadInput(CliRunner.Run("pretrain", "--config", run.Config, "--data", run.Data, "--tokenizer", TestPaths.Tokenizer,
            "--out", run.Run), "already holds a run");

    [Fact]
    public void CorruptTokenizer()
    {
        string tokenizer = run["broken.model"];
        File.WriteAllBytes(tokenizer, [1, 2, 3, 4, 5]);
        AssertBadInput(CliRunner.Run("pretrain", "--config", run.Config, "--data", run.Data, "--tokenizer", tokenizer,
            "--out", run["tokenizer-run"]), "not a SentencePiece model");
    }
}
