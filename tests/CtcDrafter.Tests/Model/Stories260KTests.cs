using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Tests.Model;

namespace CtcDrafter.Tests.Model;

/// <summary>A real pretrained model: llama2.c's stories260K, converted, must reproduce llama2.c's golden greedy run.</summary>
public class Stories260KTests
{
    static string Source(string file) => Path.Combine(TestData.SharedDataDir!, "models", "stories260K", file);

    /// <summary>The greedy output shown in stories260K.md (`run stories260K.bin -z tok512.bin -t 0.0`).</summary>
    static string GoldenGreedyText()
    {
        string[] lines = File.ReadAllLines(Source("stories260K.md"));
        int start = Array.FindIndex(lines, l => l.Contains("-t 0.0")) + 1;
        int end = Array.FindIndex(lines, start, l => l.StartsWith("```"));
        return string.Join("\n", lines[start..end]);
    }

    [SharedDataFact]
    public void ConvertedModelReproducesLlama2CGreedyOutput()
    {
        using var dir = new TempDir();
        string folder = dir["stories260K"];
        ModelConfig c = Llama2CConverter.Convert(Source("stories260K.bin"), Source("tok512.bin"), folder);
        Assert.Equal((64, 5, 8, 4, 512), (c.HiddenSize, c.NumLayers, c.NumHeads, c.NumKvHeads, c.VocabSize));
        using var m = LlamaModel.Load(folder);
        var result = new Generator(m).Generate(new GenerationRequest([1], 256, SamplingOptions.Greedy));
        Assert.Equal(GoldenGreedyText(), result.Text.TrimEnd());
    }

    [SharedDataFact]
    public void ConversionRefusesAnExistingFolderAndLeavesNothingHalfWritten()
    {
        using var dir = new TempDir();
        string truncated = dir["truncated.bin"];
        File.WriteAllBytes(truncated, File.ReadAllBytes(Source("stories260K.bin"))[..5000]);
        var e = Assert.Throws<ModelFormatException>(() => Llama2CConverter.Convert(truncated, Source("tok512.bin"), dir["out"]));
        Assert.Contains("truncated.bin", e.Message);
        Assert.False(Directory.Exists(dir["out"]));
        Directory.CreateDirectory(dir["full"]);
        File.WriteAllText(Path.Combine(dir["full"], "x"), "");
        Assert.Throws<ModelFormatException>(() => Llama2CConverter.Convert(Source("stories260K.bin"), Source("tok512.bin"), dir["full"]));
    }
}
