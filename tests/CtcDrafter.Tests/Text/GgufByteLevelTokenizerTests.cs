using System.IO.Compression;
using System.Reflection;
using System.Text.Json.Nodes;
using CtcDrafter.Model;
using CtcDrafter.Tests.Cli;
using CtcDrafter.Tests.Model;
using CtcDrafter.Text;
using Microsoft.ML.Tokenizers;

namespace CtcDrafter.Tests.Text;

/// <summary>
/// Vocabulary-only GGUF files of <c>tokenizer.ggml.model</c> "gpt2", written by Fixtures/write_gguf.py from
/// tiktoken's cl100k_base ranks (as shipped by Microsoft.ML.Tokenizers.Data.Cl100kBase; the writer spells the tokens
/// in GPT-2's alphabet and recovers the merges from the ranks itself). With pre "llama-bpe", whose regex is
/// cl100k's, the ids must be those of Microsoft.ML.Tokenizers' own TiktokenTokenizer for cl100k_base.
/// </summary>
public class GgufByteLevelTokenizerTests(GgufByteLevelTokenizerTests.Cl100kFiles files) : IClassFixture<GgufByteLevelTokenizerTests.Cl100kFiles>
{
    private const int EndOfText = 100257, FimPrefix = 100258, EndOfPrompt = 100276;

    private static readonly TiktokenTokenizer Tiktoken = TiktokenTokenizer.CreateForModel("gpt-4");

    /// <summary>cl100k_base as GGUF files, written once for the class, on first use.</summary>
    public sealed class Cl100kFiles : IDisposable
    {
        private readonly TempDir dir = new();
        private readonly Lazy<string> ranks;
        private readonly Dictionary<string, string> byPre = [];

        public Cl100kFiles() => ranks = new(WriteRanks);

        public string Dir => dir.Path;

        /// <summary>A GGUF file of cl100k_base with <paramref name="pre"/> as tokenizer.ggml.pre.</summary>
        public string Gguf(string pre)
        {
            lock (byPre)
            {
                if (!byPre.TryGetValue(pre, out string? path))
                {
                    var special = new JsonObject
                    {
                        ["control"] = new JsonObject { ["<|endoftext|>"] = EndOfText, ["<|fim_prefix|>"] = FimPrefix, ["<|endofprompt|>"] = EndOfPrompt },
                        ["bos_token_id"] = EndOfText, ["eos_token_id"] = EndOfText, ["add_bos_token"] = false,
                    };
                    path = WriteGpt2(dir, $"cl100k-{pre}.gguf", ranks.Value, pre, special);
                    byPre[pre] = path;
                }
                return path;
            }
        }

        // Microsoft.ML.Tokenizers.Data.Cl100kBase embeds cl100k_base.tiktoken deflated, one base64 token a line in
        // rank order after a "Capacity" line; the writer reads the usual "base64 rank" lines.
        private string WriteRanks()
        {
            var data = Assembly.Load("Microsoft.ML.Tokenizers.Data.Cl100kBase");
            using var stream = new DeflateStream(data.GetManifestResourceStream("cl100k_base.tiktoken.deflate")!, CompressionMode.Decompress);
            using var reader = new StreamReader(stream);
            var lines = new List<string>();
            while (reader.ReadLine() is { } line)
                if (line.Length > 0 && !line.StartsWith("Capacity:", StringComparison.Ordinal)) lines.Add($"{line} {lines.Count}");
            Assert.Equal(100256, lines.Count);
            return dir.Write("cl100k_base.tiktoken", string.Join('\n', lines) + "\n");
        }

        public void Dispose() => dir.Dispose();
    }

    private static string WriteGpt2(TempDir dir, string name, string ranks, string pre, JsonObject special, params string[] extra)
    {
        string specialPath = dir.Write(name + ".special.json", special.ToJsonString());
        return GgufFixtures.Write(dir.Path, dir[name], "f32",
            ["--vocab-only", "--gpt2-ranks", ranks, "--pre", pre, "--gpt2-special", specialPath, .. extra]);
    }

    /// <summary>A tiny tiktoken rank file: the 256 bytes, then "he", "ll", "hello".</summary>
    private static string TinyRanks(TempDir dir)
    {
        byte[][] tokens = [.. Enumerable.Range(0, 256).Select(b => new[] { (byte)b }), "he"u8.ToArray(), "ll"u8.ToArray(), "hell"u8.ToArray(), "hello"u8.ToArray()];
        return dir.Write("tiny.tiktoken", string.Concat(tokens.Select((t, rank) => $"{Convert.ToBase64String(t)} {rank}\n")));
    }

    public static TheoryData<string> Texts =>
    [
        "Hello, world!",
        "The quick brown fox jumps over the lazy dog.",
        "12345678 and 3.14159, 1000000 or 42",
        "I'm sure you'll see they've done it, isn't it? HE'LL SAY WE'D",
        "def f(x):\n    return x ** 2  # square\n\nprint(f(3))",
        "for (int i = 0; i < n; ++i) { sum += a[i]; }",
        "a  b   c    d\t\te \t  f",
        "line one\nline two\r\n\r\nline three\n\n\n",
        "   leading and trailing   ",
        "naïve café, Straße, Ελληνικά, русский, 日本語のテキスト, 한국어, العربية",
        "emoji: 😀 🎉🎉 👍🏽 and ❤️ plus 🇫🇷",
        "",
        " ",
        "\n",
        "MixedCASE wOrDs 'S 'T",
    ];

    [GgufTheory]
    [MemberData(nameof(Texts))]
    public void Cl100kVocabularyWithLlama3PreTokenizer_EncodesAsTiktoken(string text)
    {
        var tokenizer = TextTokenizer.Load(files.Gguf("llama-bpe"));
        var ids = tokenizer.Encode(text, addBos: false);
        Assert.Equal(Tiktoken.EncodeToIds(text), ids);
        Assert.Equal(text, tokenizer.Decode(ids));
    }

    [GgufFact]
    public void Cl100kVocabulary_HasTheFilesSizeAndNoBosWhenTheFileSaysSo()
    {
        var tokenizer = TextTokenizer.Load(files.Gguf("llama-bpe"));
        Assert.Equal(EndOfPrompt + 1, tokenizer.VocabSize);
        Assert.Equal(-1, tokenizer.BosId); // add_bos_token false
        Assert.Equal(EndOfText, tokenizer.EosId);
        Assert.Equal(tokenizer.Encode("hi", addBos: false), tokenizer.Encode("hi", addBos: true));
    }

    [GgufFact]
    public void ControlTokens_AreSingleIdsOnlyWhenSpecialTextIsParsed()
    {
        var tokenizer = TextTokenizer.Load(files.Gguf("llama-bpe"));
        const string text = "Hello<|endoftext|> world<|fim_prefix|>x<|endofprompt|>";
        var special = tokenizer.Encode(text, addBos: false, parseSpecial: true);
        Assert.Equal(Tiktoken.EncodeToIds(text), special); // tiktoken's EncodeToIds parses its special tokens
        Assert.Equal([EndOfText, FimPrefix, EndOfPrompt], special.Where(id => id > 100255));
        var plain = tokenizer.Encode(text, addBos: false);
        Assert.DoesNotContain(plain, id => id > 100255);
        Assert.Equal(text, tokenizer.Decode(plain));
        Assert.Equal("Hello worldx", tokenizer.Decode(special)); // control tokens decode to nothing

        // A chat prompt: the template's markers become ids, the same text inside a message stays text.
        string prompt = "<|fim_prefix|>user says <|endoftext|><|endoftext|>";
        int message = "<|fim_prefix|>".Length, messageEnd = message + "user says <|endoftext|>".Length;
        var ids = tokenizer.Encode(prompt, addBos: false, plainText: [message..messageEnd]);
        Assert.Equal([FimPrefix, EndOfText], ids.Where(id => id > 100255));
        Assert.Equal(FimPrefix, ids[0]);
        Assert.Equal(EndOfText, ids[^1]);
    }

    [GgufFact]
    public void Qwen2PreTokenizer_SplitsDigitsOneByOne()
    {
        var qwen = TextTokenizer.Load(files.Gguf("qwen2"));
        var llama3 = TextTokenizer.Load(files.Gguf("llama-bpe"));
        int[] digits = [.. "12345".Select(c => Tiktoken.EncodeToIds(c.ToString()).Single())];
        Assert.Equal(digits, qwen.Encode("12345", addBos: false));
        Assert.Equal(Tiktoken.EncodeToIds("12345"), llama3.Encode("12345", addBos: false)); // "123", "45"
        Assert.Equal(2, llama3.Encode("12345", addBos: false).Count);
        Assert.Equal(llama3.Encode("hello world", addBos: false), qwen.Encode("hello world", addBos: false));
    }

    [GgufFact]
    public void TokenizeCommand_ReadsAGpt2GgufFile()
    {
        string file = files.Gguf("llama-bpe");
        var r = CliRunner.Run("tokenize", "--tokenizer", file, "--json", "--special", "Hello world<|endoftext|>");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var ids = JsonNode.Parse(r.Stdout)!.AsArray().Select(n => n!.GetValue<int>());
        Assert.Equal(Tiktoken.EncodeToIds("Hello world<|endoftext|>"), ids);
    }

    [GgufFact]
    public void UserDefinedTokens_AreAlwaysMatchedWhole_AndLlama3AddsBosByDefault()
    {
        using var dir = new TempDir();
        var special = new JsonObject
        {
            ["control"] = new JsonObject { ["<|begin|>"] = 260 },
            ["user_defined"] = new JsonObject { ["<think>"] = 262 },
            ["bos_token_id"] = 260,
        };
        string path = WriteGpt2(dir, "tiny.gguf", TinyRanks(dir), "llama-bpe", special);
        var tokenizer = TextTokenizer.Load(path);
        Assert.Equal(263, tokenizer.VocabSize); // id 261 is an unused "[PAD261]"
        Assert.Equal(260, tokenizer.BosId);
        Assert.Equal([260, 259, 262], tokenizer.Encode("hello<think>", addBos: true));
        Assert.Equal("hello<think>", tokenizer.Decode([260, 259, 262, 261]));
        // Ids are ranks (byte b is id b): "he" and "ll" merge, "hell" needs them side by side.
        Assert.Equal([256, 'h', 257, 'o', 256], tokenizer.Encode("hehllohe", addBos: false));
    }

    [GgufFact]
    public void UnknownPreTokenizer_IsRefusedByName()
    {
        using var dir = new TempDir();
        string path = WriteGpt2(dir, "pre.gguf", TinyRanks(dir), "no-such-pre", new JsonObject());
        var e = Assert.Throws<FormatException>(() => TextTokenizer.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("'no-such-pre'", e.Message);
        using var g = new GgufFile(path);
        var m = Assert.Throws<ModelFormatException>(() => GgufModel.Tokenizer(g));
        Assert.Equal(path, m.Path);
    }

    [GgufFact]
    public void MissingMerges_AreRefusedByName()
    {
        using var dir = new TempDir();
        string path = WriteGpt2(dir, "merges.gguf", TinyRanks(dir), "llama-bpe", new JsonObject { ["bos_token_id"] = 0 }, "--no-merges");
        var e = Assert.Throws<FormatException>(() => TextTokenizer.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("tokenizer.ggml.merges", e.Message);
    }

    [GgufFact]
    public void Llama3WithoutBosId_IsRefusedByName()
    {
        using var dir = new TempDir();
        string path = WriteGpt2(dir, "bos.gguf", TinyRanks(dir), "llama-bpe", new JsonObject());
        var e = Assert.Throws<FormatException>(() => TextTokenizer.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("tokenizer.ggml.bos_token_id", e.Message);
    }
}
