using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using CtcDrafter.Text;

namespace CtcDrafter.Tests.Text;

public class TokenizerJsonTests : IDisposable
{
    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private static readonly string[] ByteLevelMerges =
        ["Ġ t", "h e", "Ġt he", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", "l l", "he ll", "hell o", "! !", "!! !!", "Ċ Ċ", "Ġ Ġ"];

    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private static char Spell(byte b) => ByteLevelAlphabet.ByteToChar[b];

    /// <summary>A GPT-2 style tokenizer.json: the 256 byte characters, the merges' results, one special token.</summary>
    private static JsonObject ByteLevelJson(bool mergesAsPairs = false, string[]? extraVocab = null)
    {
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab[Spell((byte)b).ToString()] = b;
        foreach (string merge in ByteLevelMerges) vocab[merge.Replace(" ", "")] = vocab.Count;
        foreach (string token in extraVocab ?? []) vocab[token] = vocab.Count;
        int special = vocab.Count;
        JsonArray merges = mergesAsPairs
            ? [.. ByteLevelMerges.Select(m => (JsonNode)new JsonArray(m.Split(' ')[0], m.Split(' ')[1]))]
            : [.. ByteLevelMerges.Select(m => (JsonNode)m)];
        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(new JsonObject { ["id"] = special, ["content"] = "<|endoftext|>", ["special"] = true }),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = "",
                ["end_of_word_suffix"] = "", ["fuse_unk"] = false, ["byte_fallback"] = false, ["vocab"] = vocab, ["merges"] = merges,
            },
        };
    }

    private TextTokenizer LoadJson(JsonObject json, string name = "tokenizer.json") =>
        TextTokenizer.Load(dir.Write(name, json.ToJsonString()));

    private static int Id(JsonObject json, string token) => (int)json["model"]!["vocab"]![token]!;

    [Fact]
    public void ByteLevel_EncodesByMergeRank_AndKeepsSpaces()
    {
        var json = ByteLevelJson();
        var tokenizer = LoadJson(json);
        Assert.Equal([Id(json, "hello"), Id(json, "Ġworld")], tokenizer.Encode("hello world", addBos: false));
        Assert.Equal([Id(json, "!!!!"), Id(json, "!!")], tokenizer.Encode("!!!!!!", addBos: false));
        Assert.Equal([Id(json, "h"), Id(json, "ĠĠ"), Id(json, "Ġworld")], tokenizer.Encode("h   world", addBos: false));
        Assert.Equal((-1, 256 + ByteLevelMerges.Length), (tokenizer.BosId, tokenizer.EosId));
        Assert.Equal(257 + ByteLevelMerges.Length, tokenizer.VocabSize);
    }

    [Fact]
    public void ByteLevel_MergesAsPairs_GiveTheSameIds()
    {
        var strings = LoadJson(ByteLevelJson(), "a.json");
        var pairs = LoadJson(ByteLevelJson(mergesAsPairs: true), "b.json");
        const string text = "the world, hello!!! \n\n";
        Assert.Equal(strings.Encode(text, false), pairs.Encode(text, false));
    }

    [Theory]
    [InlineData("hello world")]
    [InlineData("  leading and trailing  ")]
    [InlineData("line\n\nbreaks\tand\ttabs\r\n")]
    [InlineData("caf\u00e9 \u65e5\u672c 😀 👨\u200d👩\u200d👧")]
    [InlineData("")]
    public void ByteLevel_RoundTrips(string text)
    {
        var tokenizer = LoadJson(ByteLevelJson());
        var ids = tokenizer.Encode(text, addBos: true);
        Assert.Equal(text, tokenizer.Decode(ids));
        var decoder = tokenizer.NewStreamingDecoder();
        var pieces = ids.Select(decoder.Push).Append(decoder.Flush()).ToList();
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
        Assert.Equal(text, string.Concat(pieces));
    }

    [Fact]
    public void ByteLevel_MatchesReferenceBpe_OnRandomStrings()
    {
        var json = ByteLevelJson();
        var tokenizer = LoadJson(json);
        var vocab = json["model"]!["vocab"]!.AsObject().ToDictionary(kv => kv.Key, kv => (int)kv.Value!);
        var ranks = ByteLevelMerges.Select((m, i) => (m, i)).ToDictionary(x => x.m, x => x.i);
        var random = new Random(7);
        string[] alphabet = ["h", "e", "l", "o", " ", "w", "r", "d", "!", "\n", "t", "\u00e9", "😀"];
        for (int trial = 0; trial < 300; trial++)
        {
            string text = string.Concat(Enumerable.Range(0, random.Next(0, 24)).Select(_ => alphabet[random.Next(alphabet.Length)]));
            var expected = Regex.Matches(text, Gpt2Pattern).SelectMany(m => ReferenceBpe(m.Value, ranks)).Select(t => vocab[t]);
            Assert.Equal(expected, tokenizer.Encode(text, addBos: false));
        }
    }

    /// <summary>Hugging Face's BPE on one chunk: merge the lowest-ranked adjacent pair, leftmost first.</summary>
    private static List<string> ReferenceBpe(string chunk, Dictionary<string, int> ranks)
    {
        var symbols = Encoding.UTF8.GetBytes(chunk).Select(b => Spell(b).ToString()).ToList();
        while (true)
        {
            int best = -1, bestRank = int.MaxValue;
            for (int i = 0; i + 1 < symbols.Count; i++)
            {
                if (ranks.TryGetValue(symbols[i] + " " + symbols[i + 1], out int rank) && rank < bestRank) (best, bestRank) = (i, rank);
            }
            if (best < 0) return symbols;
            symbols[best] += symbols[best + 1];
            symbols.RemoveAt(best + 1);
        }
    }

    [Fact]
    public void ByteLevel_Llama3Style_SplitRegexAndIgnoreMerges()
    {
        var json = ByteLevelJson(extraVocab: ["Ġzz"]);
        json["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["pretokenizers"] = new JsonArray(
                new JsonObject
                {
                    ["type"] = "Split", ["behavior"] = "Isolated", ["invert"] = false,
                    ["pattern"] = new JsonObject { ["Regex"] = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+" },
                },
                new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = false }),
        };
        Assert.Equal([Id(json, "h"), Id(json, "Ġ"), Id(json, "z"), Id(json, "z")], LoadJson(json, "merges.json").Encode("h zz", false));
        json["model"]!["ignore_merges"] = true;
        var tokenizer = LoadJson(json, "ignore.json");
        Assert.Equal([Id(json, "h"), Id(json, "Ġzz")], tokenizer.Encode("h zz", false));
        Assert.Equal([Id(json, "1"), Id(json, "2"), Id(json, "3"), Id(json, "4")], tokenizer.Encode("1234", false).Take(4));
        Assert.Equal("h zz 12345\n", tokenizer.Decode(tokenizer.Encode("h zz 12345\n", false)));
    }

    [Fact]
    public void AddedSpecialToken_IsParsedOnlyWhenAsked_AndSkippedInDecode()
    {
        var json = ByteLevelJson();
        var tokenizer = LoadJson(json);
        int eos = tokenizer.EosId;
        Assert.Equal([Id(json, "hello"), eos], tokenizer.Encode("hello<|endoftext|>", false, parseSpecial: true));
        Assert.DoesNotContain(eos, tokenizer.Encode("hello<|endoftext|>", false));
        Assert.Equal("hello", tokenizer.Decode([Id(json, "hello"), eos]));
    }

    /// <summary>A LLaMA-style tokenizer.json: byte pieces, ▁ for spaces, merges by rank, byte fallback.</summary>
    private static JsonObject MetaspaceJson(bool legacy)
    {
        var vocab = new JsonObject { ["<unk>"] = 0, ["<s>"] = 1, ["</s>"] = 2 };
        for (int b = 0; b < 256; b++) vocab[$"<0x{b:X2}>"] = 3 + b;
        foreach (string piece in new[] { "▁", "a", "b", "▁a", "ab", "▁ab" }) vocab[piece] = vocab.Count;
        JsonArray added = [.. new[] { "<unk>", "<s>", "</s>" }.Select((t, i) => (JsonNode)new JsonObject { ["id"] = i, ["content"] = t, ["special"] = true })];
        return new JsonObject
        {
            ["added_tokens"] = added,
            ["normalizer"] = legacy
                ? new JsonObject
                {
                    ["type"] = "Sequence",
                    ["normalizers"] = new JsonArray(
                        new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" },
                        new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁" }),
                }
                : null,
            ["pre_tokenizer"] = legacy ? null
                : new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "first", ["split"] = false },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["unk_token"] = "<unk>", ["fuse_unk"] = true, ["byte_fallback"] = true,
                ["vocab"] = vocab, ["merges"] = new JsonArray("▁ a", "a b", "▁a b"),
            },
        };
    }

    [Fact]
    public void Metaspace_Legacy_EncodesLikeSentencePiece_WithByteFallback()
    {
        var tokenizer = LoadJson(MetaspaceJson(legacy: true));
        Assert.Equal((1, 2, 265), (tokenizer.BosId, tokenizer.EosId, tokenizer.VocabSize));
        Assert.Equal([1, 264, 264], tokenizer.Encode("ab ab", addBos: true));
        Assert.Equal([259, 264], tokenizer.Encode(" ab", false));
        Assert.Equal([264, 259, 3 + 0xC3, 3 + 0xA9], tokenizer.Encode("ab é", false));
        Assert.Equal([264, 2, 264], tokenizer.Encode("ab</s>ab", false, parseSpecial: true));
        foreach (string text in new[] { "ab ab", " ab", "ab é 😀", "  a  b\n" })
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text, true)));
    }

    [Fact]
    public void Metaspace_PrependSchemeFirst_AddsNoSecondPrefix()
    {
        var tokenizer = LoadJson(MetaspaceJson(legacy: false));
        Assert.Equal([264], tokenizer.Encode(" ab", false));
        Assert.Equal([264, 2, 263], tokenizer.Encode("ab</s>ab", false, parseSpecial: true));
        Assert.Equal("ab ab", tokenizer.Decode(tokenizer.Encode("ab ab", true)));
    }

    [SharedDataFact]
    public void Metaspace_Llama2ConvertedToTokenizerJson_MatchesSentencePieceFixture()
    {
        // The conversion Hugging Face uses (transformers' SentencePieceExtractor): every split of a piece into two
        // pieces is a merge, ordered by the merged piece's score.
        var model = SentencePieceModel.Parse(File.ReadAllBytes(TestData.SharedPath("tokenizers", "llama2", "tokenizer.model")), "llama2");
        var ids = model.Pieces.Select((p, i) => (p, i)).ToDictionary(x => x.p, x => x.i);
        var merges = new List<(string L, string R, float Score)>();
        foreach (var (piece, id) in ids)
        {
            merges.AddRange(Enumerable.Range(1, piece.Length - 1)
                .Select(k => (L: piece[..k], R: piece[k..], model.Scores[id]))
                .Where(m => ids.ContainsKey(m.L) && ids.ContainsKey(m.R))
                .OrderBy(m => ids[m.L]).ThenBy(m => ids[m.R]));
        }
        var json = MetaspaceJson(legacy: true);
        var vocab = new JsonObject();
        foreach (var (piece, id) in ids) vocab[piece] = id;
        json["model"]!["vocab"] = vocab;
        json["model"]!["merges"] = new JsonArray([.. merges.OrderByDescending(m => m.Score).Select(m => (JsonNode)new JsonArray(m.L, m.R))]);
        var tokenizer = LoadJson(json);

        using var doc = JsonDocument.Parse(File.ReadAllText(TestFiles.Fixture("sentencepiece_ids.json")));
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            string text = c.GetProperty("text").GetString()!;
            Assert.Equal(c.GetProperty("llama2").EnumerateArray().Select(e => e.GetInt32()), tokenizer.Encode(text, false));
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text, true)));
        }
    }
}
