using System.Buffers.Binary;
using System.Text;
using CtcDrafter.Text;

namespace CtcDrafter.Tests.Text;

public class Llama2CConverterTests
{
    private static string TokBin => TestData.SharedPath("models", "stories260K", "tok512.bin");

    [SharedDataTheory]
    [InlineData("Once upon a time")]
    [InlineData("Lily saw a big, red ball. She said, \"I'm sorry!\"")]
    [InlineData("  two  spaces\nand a newline")]
    [InlineData("caf\u00e9 \u2122 😀")]
    [InlineData("")]
    public void ConvertedModel_EncodesLikeLlama2C(string text)
    {
        using var dir = new TempDir();
        Llama2CTokenizerConverter.Convert(TokBin, dir["tokenizer.model"]);
        var tokenizer = TextTokenizer.Load(dir.Path);

        Assert.Equal((512, 1, 2), (tokenizer.VocabSize, tokenizer.BosId, tokenizer.EosId));
        Assert.Equal(Llama2CEncode(File.ReadAllBytes(TokBin), text), tokenizer.Encode(text, addBos: false));
        Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text, addBos: true)));
    }

    [SharedDataFact]
    public void ConvertedModel_KeepsPiecesAndScores()
    {
        var model = Llama2CTokenizerConverter.ToModel(File.ReadAllBytes(TokBin), TokBin);
        Assert.Equal(["<unk>", "<s>", "</s>", "<0x00>"], model.Pieces[..4]);
        Assert.Equal("\u2581t", model.Pieces[259]);
        Assert.Equal(-1f, model.Scores[260]);
        var reparsed = SentencePieceModel.Parse(model.Serialize(), "converted");
        Assert.Equal(model.Pieces, reparsed.Pieces);
        Assert.Equal(model.Scores, reparsed.Scores);
        Assert.Equal(model.Types, reparsed.Types);
        Assert.False(reparsed.RemoveExtraWhitespaces);
    }

    [Fact]
    public void NotALlama2CFile_IsAFormatErrorNamingIt()
    {
        using var dir = new TempDir();
        string bad = dir.Write("tok.bin", Encoding.UTF8.GetBytes("this is not a tokenizer at all"));
        var e = Assert.Throws<FormatException>(() => Llama2CTokenizerConverter.Convert(bad, dir["tokenizer.model"]));
        Assert.Contains(bad, e.Message);
        Assert.False(File.Exists(dir["tokenizer.model"]));
        Assert.Throws<FileNotFoundException>(() => Llama2CTokenizerConverter.Convert(dir["none.bin"], dir["out.model"]));
    }

    /// <summary>llama2.c's encode (run.c) on its own tokenizer file: dummy-prefix " ", one token per UTF-8
    /// character with byte fallback to byte + 3, then merge the best-scoring adjacent pair, leftmost on ties.</summary>
    private static List<int> Llama2CEncode(byte[] tokBin, string text)
    {
        var vocab = new List<string>();
        var scores = new List<float>();
        for (int pos = 4; pos < tokBin.Length;)
        {
            scores.Add(BinaryPrimitives.ReadSingleLittleEndian(tokBin.AsSpan(pos)));
            int length = BinaryPrimitives.ReadInt32LittleEndian(tokBin.AsSpan(pos + 4));
            vocab.Add(Encoding.UTF8.GetString(tokBin, pos + 8, length));
            pos += 8 + length;
        }
        var lookup = new Dictionary<string, int>();
        for (int i = vocab.Count - 1; i >= 0; i--) lookup[vocab[i]] = i;

        var tokens = new List<int>();
        if (text.Length == 0) return tokens;
        tokens.Add(lookup[" "]);
        foreach (var rune in text.EnumerateRunes())
        {
            if (lookup.TryGetValue(rune.ToString(), out int id)) tokens.Add(id);
            else tokens.AddRange(Encoding.UTF8.GetBytes(rune.ToString()).Select(b => b + 3));
        }
        while (true)
        {
            float bestScore = float.NegativeInfinity;
            int bestId = -1, bestIndex = -1;
            for (int i = 0; i + 1 < tokens.Count; i++)
            {
                if (lookup.TryGetValue(vocab[tokens[i]] + vocab[tokens[i + 1]], out int id) && scores[id] > bestScore)
                    (bestScore, bestId, bestIndex) = (scores[id], id, i);
            }
            if (bestIndex < 0) return tokens;
            tokens[bestIndex] = bestId;
            tokens.RemoveAt(bestIndex + 1);
        }
    }
}
