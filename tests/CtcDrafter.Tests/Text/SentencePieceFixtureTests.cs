using System.Collections.Concurrent;
using System.Text.Json;
using CtcDrafter.Text;

namespace CtcDrafter.Tests.Text;

/// <summary>The real LLaMA-2 and Mistral tokenizers against SentencePiece's own ids
/// (Fixtures/sentencepiece_ids.json, written by scripts/make_tokenizer_fixture.py).</summary>
public class SentencePieceFixtureTests
{
    private static readonly Dictionary<string, string[]> Files = new()
    {
        ["llama2"] = ["tokenizers", "llama2", "tokenizer.model"],
        ["mistral_v1"] = ["tokenizers", "mistral", "tokenizer.model.v1"],
        ["mistral_v3"] = ["tokenizers", "mistral", "mistral_instruct_tokenizer_240323.model.v3"],
    };

    private static readonly ConcurrentDictionary<string, TextTokenizer> Loaded = new();

    internal static TextTokenizer Tokenizer(string name) =>
        Loaded.GetOrAdd(name, n => TextTokenizer.Load(TestData.SharedPath(Files[n])));

    public static TheoryData<string> Names => [.. Files.Keys];

    private static List<(string Text, int[] Ids)> Cases(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestFiles.Fixture("sentencepiece_ids.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => (c.GetProperty("text").GetString()!, c.GetProperty(name).EnumerateArray().Select(e => e.GetInt32()).ToArray()))
            .ToList();
    }

    [SharedDataTheory]
    [MemberData(nameof(Names))]
    public void Encode_MatchesSentencePieceIdsExactly(string name)
    {
        var tokenizer = Tokenizer(name);
        var cases = Cases(name);
        var wrong = cases
            .Where(c => !tokenizer.Encode(c.Text, addBos: false).SequenceEqual(c.Ids))
            .Select(c => $"{JsonSerializer.Serialize(c.Text)}: want [{string.Join(",", c.Ids)}] got [{string.Join(",", tokenizer.Encode(c.Text, false))}]")
            .ToList();
        Assert.True(wrong.Count == 0, $"{wrong.Count} of {cases.Count} differ:\n" + string.Join("\n", wrong));
    }

    [SharedDataTheory]
    [MemberData(nameof(Names))]
    public void DecodeOfEncode_RoundTrips_WithAndWithoutBos(string name)
    {
        var tokenizer = Tokenizer(name);
        foreach (var (text, _) in Cases(name))
        {
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text, addBos: false)));
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text, addBos: true)));
        }
    }

    [SharedDataTheory]
    [MemberData(nameof(Names))]
    public void StreamingDecode_EqualsDecode_AndNeverEmitsReplacementCharacters(string name)
    {
        var tokenizer = Tokenizer(name);
        foreach (var (text, _) in Cases(name))
        {
            var decoder = tokenizer.NewStreamingDecoder();
            var pieces = tokenizer.Encode(text, addBos: true).Select(decoder.Push).Append(decoder.Flush()).ToList();
            Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
            Assert.Equal(text, string.Concat(pieces));
        }
    }

    [SharedDataFact]
    public void Llama2_SpecialIds_AndVocabSize()
    {
        var tokenizer = Tokenizer("llama2");
        Assert.Equal((32000, 1, 2), (tokenizer.VocabSize, tokenizer.BosId, tokenizer.EosId));
        Assert.Equal([1, 15043, 3186], tokenizer.Encode("Hello world", addBos: true));
        Assert.Equal(32768, Tokenizer("mistral_v3").VocabSize);
    }

    [SharedDataFact]
    public void ParseSpecial_MapsEosTextToEosId_OnlyWhenAsked()
    {
        var tokenizer = Tokenizer("llama2");
        Assert.Equal([15043, 2, 3148, 1001], tokenizer.Encode("Hello</s>USER", addBos: false, parseSpecial: true));
        Assert.DoesNotContain(2, tokenizer.Encode("Hello</s>USER", addBos: false));
        // Mistral v3's [INST] is a control piece: parsed only on request, and never decoded.
        var mistral = Tokenizer("mistral_v3");
        var ids = mistral.Encode("[INST] Hi [/INST]", addBos: true, parseSpecial: true);
        Assert.Equal([1, 3], ids.Take(2));
        Assert.Equal(4, ids[^1]);
        Assert.Equal("Hi", mistral.Decode(ids).Trim());
    }
}
