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

    /// <summary>A header field rewritten (vocabulary INT_MIN, giant sizes), or a tokenizer of another size: each
    /// refused by name before anything is allocated or written.</summary>
    [SharedDataTheory]
    [InlineData(5, int.MinValue, "implausible header")]
    [InlineData(0, 65536, "matrix beyond 2^31 elements")]
    [InlineData(2, 1_000_000, "expected")]
    [InlineData(6, 1 << 25, "beyond the engine's limit")]
    public void BadCheckpointHeaderIsRefusedAndNothingIsWritten(int field, int value, string expected)
    {
        using var dir = new TempDir();
        byte[] bytes = File.ReadAllBytes(Source("stories260K.bin"));
        BitConverter.GetBytes(value).CopyTo(bytes, 4 * field);
        if (field == 0) BitConverter.GetBytes(65536).CopyTo(bytes, 4); // hidden_dim too
        File.WriteAllBytes(dir["bad.bin"], bytes);
        var e = Assert.Throws<ModelFormatException>(() => Llama2CConverter.Convert(dir["bad.bin"], Source("tok512.bin"), dir["out"]));
        Assert.Contains("bad.bin", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.Equal(["bad.bin"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }

    [SharedDataFact]
    public void TokenizerOfAnotherSizeIsRefusedAndNothingIsWritten()
    {
        using var dir = new TempDir();
        var tokenizer = new List<byte>(File.ReadAllBytes(Source("tok512.bin")));
        for (int i = 0; i < 88; i++)
        {
            byte[] text = System.Text.Encoding.UTF8.GetBytes($"zz{i}");
            tokenizer.AddRange(BitConverter.GetBytes(-1f));
            tokenizer.AddRange(BitConverter.GetBytes(text.Length));
            tokenizer.AddRange(text);
        }
        File.WriteAllBytes(dir["tok600.bin"], [.. tokenizer]);
        var e = Assert.Throws<ModelFormatException>(() => Llama2CConverter.Convert(Source("stories260K.bin"), dir["tok600.bin"], dir["out"]));
        Assert.Contains("the tokenizer has 600 tokens but the checkpoint's vocabulary is 512", e.Message);
        Assert.False(Directory.Exists(dir["out"]));
    }
}
