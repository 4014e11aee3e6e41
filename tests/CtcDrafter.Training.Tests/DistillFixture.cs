namespace CtcDrafter.Training.Tests;

/// <summary>A tiny corpus, a tiny random base model with the project's tokenizer, and its distillation (2 prompts per source).</summary>
public sealed class DistillFixture : IDisposable
{
    readonly TempFolder _temp = new();

    public DistillFixture()
    {
        Data = TinyCorpus.Write(_temp["data"]);
        Base = TinyBase.Write(_temp["base"]);
        Distilled = _temp["distilled"];
        Result = Distill(Distilled, 2);
    }

    public string Data { get; }
    public string Base { get; }
    public string Distilled { get; }
    public (int Exit, string Out, string Error) Result { get; }
    public const int MaxNewTokens = 24;

    public (int Exit, string Out, string Error) Distill(string output, int perSource, string? model = null) =>
        CliRunner.Run("distill", "--model", model ?? Base, "--out", output, "--data", Data, "--per-source", perSource.ToString(),
            "--max-new-tokens", MaxNewTokens.ToString());

    public string this[string relative] => _temp[relative];

    public void Dispose() => _temp.Dispose();
}
