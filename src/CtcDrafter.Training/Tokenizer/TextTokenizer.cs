using CtcDrafter.Training.Data;

namespace CtcDrafter.Training.Tokenizer;

/// <summary>
/// The project's SentencePiece tokenizer (BPE with byte fallback, <c>&lt;unk&gt;</c>=0, BOS=1, EOS=2) as the training
/// code uses it: the engine's exact tokenizer (<see cref="Text.TextTokenizer"/>) with training-input errors and the
/// encoding of corpus documents.
/// </summary>
internal sealed class TextTokenizer
{
    public const int UnkId = 0;
    public const int BosId = 1;
    public const int EosId = 2;

    /// <summary>The default location of the committed tokenizer, relative to the repository root.</summary>
    public static readonly string DefaultPath = System.IO.Path.Combine("models", "tokenizer", "tokenizer.model");

    TextTokenizer(Text.TextTokenizer engine, string path)
    {
        Engine = engine;
        Path = path;
    }

    /// <summary>The engine's tokenizer this wraps.</summary>
    public Text.TextTokenizer Engine { get; }

    /// <summary>The file it was loaded from.</summary>
    public string Path { get; }

    public int VocabSize => Engine.VocabSize;

    public static TextTokenizer Load(string path)
    {
        if (!File.Exists(path))
            throw new TrainingInputException(
                $"tokenizer not found: {System.IO.Path.GetFullPath(path)} (pass --tokenizer, or build one with `ctcdrafter-train tokenizer`)");
        Text.TextTokenizer engine;
        try
        {
            engine = Text.TextTokenizer.Load(path);
        }
        catch (Exception e) when (e is FormatException or NotSupportedException or IOException or InvalidDataException)
        {
            throw new TrainingInputException($"{path}: not a SentencePiece model ({e.Message})", e);
        }
        if (engine.BosId != BosId || engine.EosId != EosId)
            throw new TrainingInputException($"{path}: expected <s>=1 and </s>=2 (found {engine.BosId} and {engine.EosId})");
        return new TextTokenizer(engine, System.IO.Path.GetFullPath(path));
    }

    /// <summary>Token ids of a text, with SentencePiece's dummy prefix and without BOS/EOS.</summary>
    public IReadOnlyList<int> Encode(string text) => text.Length == 0 ? [] : Engine.Encode(text, addBos: false);

    /// <summary>
    /// BOS, then the text, then EOS when the document asks for it. In a chat document every <c>&lt;/s&gt;</c> is the
    /// EOS id (the pieces between are encoded separately, each with the dummy prefix, as a tokenizer that knows
    /// <c>&lt;/s&gt;</c> as a special token does); elsewhere it is plain text.
    /// </summary>
    public List<int> EncodeDocument(CorpusDocument document)
    {
        var ids = new List<int> { BosId };
        string[] pieces = document.IsChat ? document.Text.Split(VicunaTemplate.EndOfTurn) : [document.Text];
        for (int i = 0; i < pieces.Length; i++)
        {
            if (i > 0) ids.Add(EosId);
            ids.AddRange(Encode(pieces[i]));
        }
        if (document.AppendEos) ids.Add(EosId);
        return ids;
    }

    public string Decode(IEnumerable<int> ids) => Engine.Decode(ids);
}
