using CtcDrafter.Training.Data;
using Microsoft.ML.Tokenizers;

namespace CtcDrafter.Training.Tokenizer;

/// <summary>The project's SentencePiece tokenizer (BPE with byte fallback, <c>&lt;unk&gt;</c>=0, BOS=1, EOS=2).</summary>
internal sealed class TextTokenizer
{
    public const int UnkId = 0;
    public const int BosId = 1;
    public const int EosId = 2;

    /// <summary>The default location of the committed tokenizer, relative to the repository root.</summary>
    public static readonly string DefaultPath = System.IO.Path.Combine("models", "tokenizer", "tokenizer.model");

    readonly LlamaTokenizer _tokenizer;

    TextTokenizer(LlamaTokenizer tokenizer, string path)
    {
        _tokenizer = tokenizer;
        Path = path;
    }

    /// <summary>The file it was loaded from.</summary>
    public string Path { get; }

    public int VocabSize => _tokenizer.Vocabulary.Count;

    public static TextTokenizer Load(string path)
    {
        if (!File.Exists(path))
            throw new TrainingInputException(
                $"tokenizer not found: {System.IO.Path.GetFullPath(path)} (pass --tokenizer, or build one with `ctcdrafter-train tokenizer`)");
        try
        {
            using var stream = File.OpenRead(path);
            var tokenizer = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
            if (tokenizer.BeginningOfSentenceId != BosId || tokenizer.EndOfSentenceId != EosId || tokenizer.UnknownId != UnkId)
                throw new TrainingInputException($"{path}: expected <unk>=0, <s>=1, </s>=2");
            return new TextTokenizer(tokenizer, System.IO.Path.GetFullPath(path));
        }
        catch (Exception e) when (e is not TrainingInputException)
        {
            throw new TrainingInputException($"{path}: not a SentencePiece model ({e.Message})", e);
        }
    }

    /// <summary>Token ids of a text, with SentencePiece's dummy prefix and without BOS/EOS.</summary>
    public IReadOnlyList<int> Encode(string text) =>
        text.Length == 0 ? [] : _tokenizer.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false);

    /// <summary>
    /// BOS, then the text with every <c>&lt;/s&gt;</c> replaced by the EOS id (the pieces between are encoded
    /// separately, each with the dummy prefix, as a tokenizer that knows <c>&lt;/s&gt;</c> as a special token does),
    /// then EOS when the document asks for it.
    /// </summary>
    public List<int> EncodeDocument(CorpusDocument document)
    {
        var ids = new List<int> { BosId };
        string[] pieces = document.Text.Split(VicunaTemplate.EndOfTurn);
        for (int i = 0; i < pieces.Length; i++)
        {
            if (i > 0) ids.Add(EosId);
            ids.AddRange(Encode(pieces[i]));
        }
        if (document.AppendEos) ids.Add(EosId);
        return ids;
    }

    public string Decode(IEnumerable<int> ids) => _tokenizer.Decode(ids, considerSpecialTokens: false) ?? "";
}
