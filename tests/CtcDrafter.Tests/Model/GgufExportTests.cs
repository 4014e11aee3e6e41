using System.Text.Json;
using CtcDrafter.Model;
using CtcDrafter.Tests.Cli;

namespace CtcDrafter.Tests.Model;

/// <summary><c>convert gguf</c> against the independent writer (Fixtures/write_gguf.py, after llama.cpp's converter
/// and gguf-py's quantizers): the same tensors, byte for byte, and the same metadata.</summary>
public class GgufExportTests
{
    static readonly string RefS = Path.Combine(TestData.RepoRoot, "models", "ref-s");

    [GgufTheory]
    [InlineData("f32")]
    [InlineData("f16")]
    [InlineData("q8_0")]
    [InlineData("q4_0")]
    public void ExportWritesWhatTheReferenceConverterWrites(string type)
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("convert", "gguf", "--model", RefS, "--out", dir["ours.gguf"], "--type", type);
        Assert.True(r.ExitCode == 0, r.Stderr);
        GgufFixtures.Write(RefS, dir["reference.gguf"], type);
        using var ours = new GgufFile(dir["ours.gguf"]);
        using var reference = new GgufFile(dir["reference.gguf"]);
        Assert.Equal(reference.Tensors.Keys.Order(), ours.Tensors.Keys.Order());
        foreach (var (name, t) in reference.Tensors)
        {
            RawTensor o = ours.Tensors[name];
            Assert.Equal(t.DType, o.DType);
            Assert.Equal(t.Shape, o.Shape);
            Assert.True(Bytes(t).SequenceEqual(Bytes(o)), $"{type}: tensor {name} differs");
        }
        foreach (var (key, value) in reference.Metadata)
        {
            if (key == "general.name") continue;
            Assert.True(ours.Metadata.TryGetValue(key, out object? mine), $"metadata '{key}' is missing");
            Assert.Equal(JsonSerializer.Serialize(value), JsonSerializer.Serialize(mine));
        }
    }

    static unsafe ReadOnlySpan<byte> Bytes(RawTensor t) => new(t.Data, checked((int)t.ByteLength));

    /// <summary>The exported file runs: the same greedy text as the folder (F32), and at Q8_0 the engine keeps
    /// the file's blocks.</summary>
    [Fact]
    public void ExportedFileGeneratesTheFoldersText()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CliRunner.Run("convert", "gguf", "--model", RefS, "--out", dir["ref-s.gguf"]).ExitCode);
        string[] args = ["generate", "--prompt", "Once upon a time", "-n", "16", "--json"];
        var fromGguf = CliRunner.Run(["generate", "--model", dir["ref-s.gguf"], .. args[1..]]);
        var fromFolder = CliRunner.Run(["generate", "--model", RefS, .. args[1..]]);
        Assert.True(fromGguf.ExitCode == 0, fromGguf.Stderr);
        Assert.Equal(JsonDocument.Parse(fromFolder.Stdout).RootElement.GetProperty("text").GetString(),
            JsonDocument.Parse(fromGguf.Stdout).RootElement.GetProperty("text").GetString());
    }

    [Fact]
    public void RefusesWhatItCannotWrite()
    {
        using var dir = new TempDir();
        string noVocab = TestModels.Write(dir, TestModels.Small());
        var r = CliRunner.Run("convert", "gguf", "--model", noVocab, "--out", dir["x.gguf"]);
        Assert.Equal((2, true), (r.ExitCode, r.Stderr.Contains("no tokenizer.model")));
        r = CliRunner.Run("convert", "gguf", "--model", RefS, "--out", dir["x.gguf"], "--type", "q5_k");
        Assert.True(r.ExitCode != 0 && r.Stderr.Contains("unknown --type 'q5_k'"), r.Stderr);
        r = CliRunner.Run("convert", "gguf", "--model", RefS, "--out", dir["x.bin"]);
        Assert.True(r.ExitCode != 0 && r.Stderr.Contains("must end in .gguf"), r.Stderr);
        Assert.False(File.Exists(dir["x.gguf"]));
        Assert.Empty(Directory.GetFiles(dir.Path, ".x.gguf.tmp-*"));
    }
}
