using System.Text;
using System.Text.Json;
using CtcDrafter.Generation;
using CtcDrafter.Kernels;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Tests.Cli;
using CtcDrafter.Tests.Text;
using CtcDrafter.Text;

namespace CtcDrafter.Tests.Model;

/// <summary>GGUF files from an independent writer (Fixtures/write_gguf.py) against the same weights in a Hugging Face folder.</summary>
public class GgufTests
{
    static ModelConfig Shape(string name) => name switch
    {
        "mha-tied" => RandomModel.Config(hidden: 96, ffn: 160, layers: 2, heads: 3, kvHeads: 3, vocab: 61, context: 256, tied: true),
        _ => RandomModel.Config(hidden: 64, ffn: 96, layers: 2, heads: 4, kvHeads: 2, vocab: 97, context: 256),
    };

    /// <summary>F32, F16 and BF16 GGUF files compute bitwise what the folder they were written from computes: the
    /// names map, the shapes reverse, and the q/k rows llama.cpp's converter permutes are put back.</summary>
    [GgufTheory]
    [InlineData("gqa", "F32", "f32", WeightFormat.F32)]
    [InlineData("mha-tied", "F32", "f32", WeightFormat.F32)]
    [InlineData("gqa", "F16", "f16", WeightFormat.F32)]
    [InlineData("gqa", "BF16", "bf16", WeightFormat.BF16)]
    [InlineData("mha-tied", "BF16", "bf16", WeightFormat.Q8)]
    public void FloatGgufComputesBitwiseWhatItsFolderComputes(string shape, string fileDtype, string ggufType, WeightFormat format)
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, Shape(shape), fileDtype);
        string gguf = GgufFixtures.Write(folder, dir["model.gguf"], ggufType);
        using var fromFolder = TestModels.Load(folder, format);
        using var fromGguf = TestModels.Load(gguf, format);
        ModelConfig c = fromFolder.Config, g = fromGguf.Config;
        Assert.Equal(Drafters.BaseIdentity.ConfigHashOf(c), Drafters.BaseIdentity.ConfigHashOf(g));
        Assert.Equal((c.MaxPositionEmbeddings, c.RmsNormEps, c.RopeTheta, c.BosTokenId), (g.MaxPositionEmbeddings, g.RmsNormEps, g.RopeTheta, g.BosTokenId));
        int[] tokens = TestModels.RandomTokens(new Random(5), 23, fromFolder.Config.VocabSize);
        float[][] a = TestModels.PrefillLogits(fromFolder, tokens), b = TestModels.PrefillLogits(fromGguf, tokens);
        for (int i = 0; i < tokens.Length; i++) Assert.Equal(a[i], b[i]);
    }

    /// <summary>A Q8_0 file keeps its blocks (no dequantisation to f32): every matrix computes what its reference kernel
    /// computes on the file's own weights, within the rounding of its int8 activations, and the logits stay close to
    /// the f32 weights the file was quantized from.</summary>
    [GgufFact]
    public void Q8_0GgufComputesItsOwnWeights()
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, Shape("gqa"));
        string gguf = GgufFixtures.Write(folder, dir["model.gguf"], "q8_0");
        Assert.Equal(WeightFormat.Q8, GgufModel.NativeFormat(gguf)); // what --dtype auto picks
        using var q8 = TestModels.Load(gguf, WeightFormat.Q8);
        using var dequantized = TestModels.Load(gguf, WeightFormat.F32);
        using var f32 = TestModels.Load(folder, WeightFormat.F32);
        var rng = new Random(2);
        foreach (var (m, d) in q8.Weights.Layers.SelectMany(l => l.Matrices).Zip(dequantized.Weights.Layers.SelectMany(l => l.Matrices)))
        {
            Assert.Equal(WeightFormat.Q8, m.Format);
            float[] x = [.. Enumerable.Range(0, 3 * m.Cols).Select(_ => (float)(rng.NextDouble() * 2 - 1))];
            float[] fast = new float[3 * m.Rows], reference = new float[3 * m.Rows], widened = new float[3 * m.Rows];
            m.MatMul(x, fast, 3);
            m.MatMulReference(x, reference, 3);
            d.MatMulReference(x, widened, 3);
            Assert.Equal(reference, widened); // the same weights, whether kept in blocks or widened at load
            // The fast kernel computes on activations quantized per block of 32: each moves by at most max|x_block| / 254.
            var row = new float[m.Cols];
            for (int r = 0; r < m.Rows; r++)
            {
                m.ReadRow(r, row);
                for (int t = 0; t < 3; t++)
                {
                    double bound = 1e-4;
                    for (int c = 0; c < m.Cols; c += 32)
                    {
                        double step = Enumerable.Range(c, 32).Max(i => Math.Abs(x[t * m.Cols + i])) / 254;
                        for (int i = c; i < c + 32; i++) bound += Math.Abs(row[i]) * step;
                    }
                    Assert.True(Math.Abs(fast[t * m.Rows + r] - reference[t * m.Rows + r]) <= bound, $"row {r} token {t}");
                }
            }
        }
        int[] tokens = TestModels.RandomTokens(rng, 17, 97);
        float[][] a = TestModels.PrefillLogits(q8, tokens), b = TestModels.PrefillLogits(f32, tokens);
        for (int i = 0; i < tokens.Length; i++)
        {
            double scale = b[i].Max(Math.Abs);
            Assert.True(TestModels.MaxAbsDiff(a[i], b[i]) < 0.03 * scale, $"position {i}: {TestModels.MaxAbsDiff(a[i], b[i])} of {scale}");
        }
    }

    /// <summary>Every matrix of a model by its Hugging Face name.</summary>
    static IEnumerable<(string Name, WeightMatrix Matrix)> NamedMatrices(LlamaModel m)
    {
        yield return ("model.embed_tokens.weight", m.Weights.Embedding);
        for (int l = 0; l < m.Weights.Layers.Length; l++)
        {
            var w = m.Weights.Layers[l];
            string p = $"model.layers.{l}.";
            foreach (var (n, x) in new[] { ("self_attn.q_proj", w.Wq), ("self_attn.k_proj", w.Wk), ("self_attn.v_proj", w.Wv),
                ("self_attn.o_proj", w.Wo), ("mlp.gate_proj", w.Gate), ("mlp.up_proj", w.Up), ("mlp.down_proj", w.Down) })
                yield return (p + n + ".weight", x);
        }
        if (m.Weights.LmHead != m.Weights.Embedding) yield return ("lm_head.weight", m.Weights.LmHead);
    }

    /// <summary>Each matrix widens to exactly the weights the independent writer's own dequantizer gives its blocks.</summary>
    static unsafe void AssertWeightsAre(LlamaModel m, string dequantized)
    {
        using var expected = new SafeTensorsFile(dequantized);
        int count = 0;
        foreach (var (name, matrix) in NamedMatrices(m))
        {
            RawTensor t = expected.Tensors[name];
            Assert.Equal([matrix.Rows, matrix.Cols], t.Shape);
            var row = new float[matrix.Cols];
            for (int r = 0; r < matrix.Rows; r++)
            {
                matrix.ReadRow(r, row);
                Assert.True(row.AsSpan().SequenceEqual(new ReadOnlySpan<float>((float*)t.Data + (long)r * matrix.Cols, matrix.Cols)), $"{name} row {r}");
            }
            count++;
        }
        Assert.Equal(expected.Tensors.Count, count);
    }

    /// <summary>Q4_0 and Q4_K_M files (Q4_K with Q6_K for the output and ffn_down matrices) keep their blocks: every
    /// matrix holds exactly the weights gguf-py's dequantizers give, and the logits on int8 activations stay close
    /// to those of the same weights widened to f32.</summary>
    [GgufTheory]
    [InlineData("q4_0")]
    [InlineData("q4_k_m")]
    public void FourBitGgufKeepsItsBlocks(string type)
    {
        using var dir = new TempDir();
        var config = type == "q4_k_m"
            ? RandomModel.Config(hidden: 256, ffn: 512, layers: 2, heads: 4, kvHeads: 2, vocab: 97, context: 256)
            : Shape("gqa");
        string folder = TestModels.Write(dir, config);
        string gguf = GgufFixtures.Write(folder, dir["model.gguf"], type, "--dequantized", dir["dequantized.safetensors"]);
        Assert.Equal(WeightFormat.Q4, GgufModel.NativeFormat(gguf)); // what --dtype auto picks
        using var q4 = TestModels.Load(gguf, WeightFormat.Q4);
        using var widened = TestModels.Load(gguf, WeightFormat.F32);
        AssertWeightsAre(q4, dir["dequantized.safetensors"]);
        AssertWeightsAre(widened, dir["dequantized.safetensors"]);
        var formats = NamedMatrices(q4).ToDictionary(m => m.Name, m => m.Matrix.Format);
        Assert.Equal(WeightFormat.Q4, formats["model.layers.1.self_attn.q_proj.weight"]);
        Assert.Equal(type == "q4_k_m" ? WeightFormat.Q6K : WeightFormat.Q4, formats["model.layers.1.mlp.down_proj.weight"]);

        int[] tokens = TestModels.RandomTokens(new Random(3), 17, config.VocabSize);
        float[][] a = TestModels.PrefillLogits(q4, tokens), b = TestModels.PrefillLogits(widened, tokens);
        for (int i = 0; i < tokens.Length; i++)
        {
            double scale = b[i].Max(Math.Abs);
            Assert.True(TestModels.MaxAbsDiff(a[i], b[i]) < 0.05 * scale, $"position {i}: {TestModels.MaxAbsDiff(a[i], b[i])} of {scale}");
        }
    }

    /// <summary>--dtype q4 quantizes a folder's weights exactly as the reference Q4_0 quantizer (the writer's, after
    /// gguf-py) does.</summary>
    [GgufFact]
    public void DtypeQ4QuantizesAsTheReferenceQ4_0()
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, Shape("gqa"));
        GgufFixtures.Write(folder, dir["model.gguf"], "q4_0", "--dequantized", dir["dequantized.safetensors"]);
        using var q4 = TestModels.Load(folder, WeightFormat.Q4);
        AssertWeightsAre(q4, dir["dequantized.safetensors"]);
    }

    /// <summary>A qwen2 GGUF file (q/k/v biases, rows not permuted, a byte-level BPE vocabulary with ChatML's special
    /// tokens and template) computes bitwise what its folder computes, and `generate` runs it with its own tokenizer
    /// and template.</summary>
    [GgufFact]
    public void Qwen2GgufRunsWithItsOwnTokenizerAndTemplate()
    {
        using var dir = new TempDir();
        var config = Shape("gqa") with { Architecture = "Qwen2ForCausalLM", QkvBias = true, VocabSize = 263, BosTokenId = 260, EosTokenIds = [261] };
        string folder = TestModels.Write(dir, config);
        // The 256 bytes, then "he", "ll", "hell", "hello"; ChatML's markers as control tokens.
        byte[][] tokens = [.. Enumerable.Range(0, 256).Select(b => new[] { (byte)b }), "he"u8.ToArray(), "ll"u8.ToArray(), "hell"u8.ToArray(), "hello"u8.ToArray()];
        File.WriteAllText(dir["ranks.tiktoken"], string.Concat(tokens.Select((t, rank) => $"{Convert.ToBase64String(t)} {rank}\n")));
        File.WriteAllText(dir["special.json"], """{"control": {"<|im_start|>": 260, "<|im_end|>": 261, "<|endoftext|>": 262}, "bos_token_id": 262, "eos_token_id": 261, "add_bos_token": false}""");
        File.WriteAllText(dir["template.jinja"], "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}");
        string gguf = GgufFixtures.Write(folder, dir["qwen2.gguf"], "f32", "--gpt2-ranks", dir["ranks.tiktoken"], "--pre", "qwen2",
            "--gpt2-special", dir["special.json"], "--chat-template", dir["template.jinja"]);
        using (var fromFolder = TestModels.Load(folder))
        using (var fromGguf = TestModels.Load(gguf))
        {
            Assert.Equal(("Qwen2ForCausalLM", true), (fromGguf.Config.Architecture, fromGguf.Config.QkvBias));
            int[] ids = TestModels.RandomTokens(new Random(8), 21, config.VocabSize);
            float[][] a = TestModels.PrefillLogits(fromFolder, ids), b = TestModels.PrefillLogits(fromGguf, ids);
            for (int i = 0; i < ids.Length; i++) Assert.Equal(a[i], b[i]);
            Assert.Equal("chatml", CtcDrafter.Text.ChatTemplate.Recognize(fromGguf.ChatTemplateText!)?.Name);
            Assert.Equal([259, 256], fromGguf.Tokenizer!.Encode("hellohe", addBos: false));
        }
        var r = CliRunner.Run("generate", "--model", gguf, "--prompt", "hello", "-n", "5", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(5, JsonDocument.Parse(r.Stdout).RootElement.GetProperty("tokens").GetArrayLength());
        r = CliRunner.Run("chat", "--model", gguf, "--max-tokens", "4");
        Assert.True(r.ExitCode == 0, r.Stderr);
    }

    /// <summary>The known model: llama.c's stories260K, converted to a folder and then to GGUF by the independent
    /// writer (q/k permuted as llama.cpp does), reproduces llama2.c's golden greedy run from the GGUF file.</summary>
    [GgufFact(SharedData = true)]
    public void Stories260KFromGgufReproducesLlama2CGreedyOutput()
    {
        using var dir = new TempDir();
        string source = Path.Combine(TestData.SharedDataDir!, "models", "stories260K");
        string folder = dir["stories260K"];
        Llama2CConverter.Convert(Path.Combine(source, "stories260K.bin"), Path.Combine(source, "tok512.bin"), folder);
        string gguf = GgufFixtures.Write(folder, dir["stories260K.gguf"], "f32");
        using var m = LlamaModel.Load(gguf);
        var result = new Generator(m).Generate(new GenerationRequest([1], 256, SamplingOptions.Greedy) { });
        using var fromFolder = LlamaModel.Load(folder);
        var expected = new Generator(fromFolder).Generate(new GenerationRequest([1], 256, SamplingOptions.Greedy));
        Assert.Equal(expected.Tokens, result.Tokens);
        string[] lines = File.ReadAllLines(Path.Combine(source, "stories260K.md"));
        int start = Array.FindIndex(lines, l => l.Contains("-t 0.0")) + 1;
        int end = Array.FindIndex(lines, start, l => l.StartsWith("```"));
        Assert.StartsWith(string.Join("\n", lines[start..end])[..200], m.Tokenizer!.Decode(result.Tokens));
    }

    /// <summary>A vocabulary-only GGUF of the LLaMA-2 tokenizer encodes the fixture texts to SentencePiece's own ids.</summary>
    [GgufFact(SharedData = true)]
    public void LlamaVocabularyFromGgufEncodesAsSentencePiece()
    {
        using var dir = new TempDir();
        File.Copy(TestData.SharedPath("tokenizers", "llama2", "tokenizer.model"), dir["tokenizer.model"]);
        string gguf = GgufFixtures.Write(dir.Path, dir["vocab.gguf"], "f32", "--vocab-only");
        var tok = TextTokenizer.Load(gguf);
        using var doc = JsonDocument.Parse(File.ReadAllText(TestFiles.Fixture("sentencepiece_ids.json")));
        int n = 0;
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            string text = c.GetProperty("text").GetString()!;
            int[] ids = [.. c.GetProperty("llama2").EnumerateArray().Select(e => e.GetInt32())];
            Assert.True(ids.SequenceEqual(tok.Encode(text, addBos: false)), $"'{text}'");
            n++;
        }
        Assert.True(n > 20);
        Assert.Equal((32000, 1, 2), (tok.VocabSize, tok.BosId, tok.EosId));
    }

    static byte[] Patch(byte[] file, string marker, int skip, Action<byte[], int> edit)
    {
        byte[] copy = (byte[])file.Clone();
        int at = copy.AsSpan().IndexOf(Encoding.UTF8.GetBytes(marker));
        Assert.True(at >= 0, marker);
        edit(copy, at + marker.Length + skip);
        return copy;
    }

    /// <summary>Broken or unsupported files: one error naming the file and the problem.</summary>
    [GgufFact]
    public void BadFilesAreRefusedByName()
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, Shape("gqa"));
        byte[] good = File.ReadAllBytes(GgufFixtures.Write(folder, dir["good.gguf"], "q8_0"));
        var cases = new (string What, byte[] Bytes, string Expected)[]
        {
            ("truncated", good[..(good.Length - 1000)], "lies outside"),
            ("cut in the header", good[..300], "the tensor count is 21, more than the rest of the file can hold"),
            ("cut in the metadata", good[..2000], "truncated or corrupt"),
            ("no magic", [.. "GGUX"u8, .. good[4..]], "not a GGUF file"),
            ("version 4", Patch(good, "GGUF", 0, (b, i) => b[i] = 4), "GGUF version 4 is not supported"),
            ("architecture", Patch(good, "general.architecture", 12, (b, i) => b[i + 4] = (byte)'x'), "architecture 'llamx' is not supported"),
            // blk.0.attn_q.weight: after its name, u32 dimension count (2), two u64 dimensions, then the u32 type.
            ("a Q5_K tensor", Patch(good, "blk.0.attn_q.weight", 4 + 16, (b, i) => BitConverter.GetBytes(13u).CopyTo(b, i)), "type Q5_K, which the engine does not compute"),
            ("Q4_K rows of 64", Patch(good, "blk.0.attn_q.weight", 4 + 16, (b, i) => BitConverter.GetBytes(12u).CopyTo(b, i)), "rows are not whole Q4_K blocks"),
            ("a tensor of type 99", Patch(good, "blk.0.attn_q.weight", 4 + 16, (b, i) => BitConverter.GetBytes(99u).CopyTo(b, i)), "type #99"),
            ("seven dimensions", Patch(good, "blk.0.attn_q.weight", 0, (b, i) => b[i] = 7), "has 7 dimensions"),
            ("a huge dimension", Patch(good, "blk.0.attn_q.weight", 4, (b, i) => BitConverter.GetBytes(1UL << 40).CopyTo(b, i)), "dimension 1099511627776"),
            ("a tensor renamed", Patch(good, "blk.1.ffn_up.weight", -6, (b, i) => b[i] = (byte)'X'), "is missing"),
            ("a huge metadata count", Patch(good, "GGUF", 4 + 8, (b, i) => BitConverter.GetBytes(1UL << 50).CopyTo(b, i)), "metadata count"),
        };
        foreach (var (what, bytes, expected) in cases)
        {
            string path = dir[$"{what.Replace(' ', '-')}.gguf"];
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<ModelFormatException>(() => { using var m = LlamaModel.Load(path, new EngineOptions(WeightFormat.Q8)); });
            Assert.True(e.Message.Contains(path) && e.Message.Contains(expected), $"{what}: {e.Message}");
        }
    }

    /// <summary>`generate --model FILE.gguf` uses the file's own tokenizer and gives the folder's greedy text.</summary>
    [GgufFact]
    public void GenerateRunsAGgufFileWithItsTokenizer()
    {
        using var dir = new TempDir();
        string refS = Path.Combine(TestData.RepoRoot, "models", "ref-s");
        string gguf = GgufFixtures.Write(refS, dir["ref-s.gguf"], "f32");
        string[] args = ["generate", "--prompt", "Once upon a time", "-n", "12", "--json"];
        var fromGguf = CliRunner.Run(["generate", "--model", gguf, .. args[1..]]);
        var fromFolder = CliRunner.Run(["generate", "--model", refS, .. args[1..]]);
        Assert.True(fromGguf.ExitCode == 0, fromGguf.Stderr);
        Assert.Equal(JsonDocument.Parse(fromFolder.Stdout).RootElement.GetProperty("text").GetString(),
            JsonDocument.Parse(fromGguf.Stdout).RootElement.GetProperty("text").GetString());
    }
}
