namespace CtcDrafter.Training.Tests;

/// <summary>One tiny corpus and one finished tiny run through the CLI (6 steps, untied head), shared by a test class.</summary>
public sealed class CliFixture : IDisposable
{
    readonly TempFolder _temp = new();

    public CliFixture()
    {
        Data = TinyCorpus.Write(_temp["data"]);
        Config = _temp["tiny.json"];
        File.WriteAllText(Config, TinyRun.ConfigJson);
        Run = _temp["run"];
        Result = CliRunner.Run("pretrain", "--config", Config, "--data", Data, "--tokenizer", TestPaths.Tokenizer, "--out", Run);
    }

    public string Data { get; }
    public string Config { get; }
    public string Run { get; }
    public string ModelFolder => Path.Combine(Run, "model");
    public (int Exit, string Out, string Error) Result { get; }

    public string this[string relative] => _temp[relative];

    public void Dispose() => _temp.Dispose();
}
