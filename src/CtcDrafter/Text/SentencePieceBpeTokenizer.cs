using System.Globalization;
using System.Text;
using PieceType = CtcDrafter.Text.SentencePieceModel.PieceType;

namespace CtcDrafter.Text;

/// <summary>
/// A SentencePiece BPE <c>.model</c> (LLaMA, Vicuna, Mistral) encoded exactly as SentencePiece does: normalize
/// (dummy prefix ▁, spaces to ▁), split into characters with user-defined pieces kept whole, merge by piece
/// score (<see cref="BpeMerger"/>), then spell pieces missing from the vocabulary as byte tokens.
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers' <c>LlamaTokenizer</c> (2.0.1) is not used here. Measured against SentencePiece on
/// the fixture (scripts/make_tokenizer_fixture.py), it breaks ties between equal-score merges differently on
/// runs of one repeated character (<c>"!!!!!!"</c> gives <c>▁! !!! !!</c> instead of <c>▁! !! !!!</c>, and so
/// for "......", "aaaaaaaa", "========", "----------") and it splits Mistral v3's user-defined pieces such as
/// <c>[REFERENCE_DOC_3]</c> into ordinary ones. Correcting its output would need the right merge order, hence
/// the piece scores, which it does not expose; the model is therefore parsed here and the merge loop follows
/// sentencepiece's bpe_model.cc. Microsoft.ML.Tokenizers does serve byte-level BPE (<see cref="TokenizerJson"/>).
/// </remarks>
internal sealed class SentencePieceBpeTokenizer : TextTokenizer
{
    private const char SpaceSymbol = '\u2581'; // ▁

    private readonly SentencePieceModel model;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> pieceIds; // pieces text can become
    private readonly Dictionary<char, string[]> userDefinedByFirstChar; // longest first
    private readonly int[] byteIds; // [256], the <0xXX> piece of each byte, or the unknown id
    private readonly int unkId;
    private readonly bool hasUnusedPieces;

    private SentencePieceBpeTokenizer(SentencePieceModel model, TokenSurface[] surfaces,
        List<AddedToken> addedTokens, int bosId, int eosId)
        : base(surfaces, addedTokens, bosId, eosId, dropsLeadingSpace: model.AddDummyPrefix || model.RemoveExtraWhitespaces)
    {
        this.model = model;
        // As in SentencePiece's model_interface.cc: text maps to NORMAL, USER_DEFINED and UNUSED pieces only.
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < model.Pieces.Length; i++)
        {
            if (model.Types[i] is PieceType.Normal or PieceType.UserDefined or PieceType.Unused)
                ids.TryAdd(model.Pieces[i], i);
        }
        pieceIds = ids.GetAlternateLookup<ReadOnlySpan<char>>();
        userDefinedByFirstChar = Enumerable.Range(0, model.Pieces.Length)
            .Where(i => model.Types[i] == PieceType.UserDefined)
            .Select(i => model.Pieces[i])
            .GroupBy(p => p[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(p => p.Length).ToArray());
        unkId = Array.IndexOf(model.Types, PieceType.Unknown);
        byteIds = new int[256];
        Array.Fill(byteIds, unkId);
        for (int i = 0; i < model.Pieces.Length; i++)
        {
            if (model.Types[i] == PieceType.Byte) byteIds[ParseBytePiece(model.Pieces[i])] = i;
        }
        hasUnusedPieces = model.Types.Contains(PieceType.Unused);
    }

    /// <summary>Loads a serialized SentencePiece model; <paramref name="path"/> names it in errors.</summary>
    public static SentencePieceBpeTokenizer Load(byte[] data, string path, TokenizerConfig? config) =>
        FromModel(SentencePieceModel.Parse(data, path), path, config);

    /// <summary>A tokenizer for a model already read (from a <c>.model</c> file, or a GGUF file's metadata).</summary>
    public static SentencePieceBpeTokenizer FromModel(SentencePieceModel model, string path, TokenizerConfig? config)
    {
        if (model.Kind != SentencePieceModel.ModelKind.Bpe)
            throw new NotSupportedException($"{path}: SentencePiece model type {model.Kind} is not supported; only BPE models (LLaMA, Vicuna, Mistral) are.");
        if (model.HasPrecompiledCharsmap)
            throw new NotSupportedException($"{path}: normalizer '{model.NormalizerName}' (a precompiled character map) is not supported; only the identity normalizer is.");
        if (model.TreatWhitespaceAsSuffix)
            throw new NotSupportedException($"{path}: treat_whitespace_as_suffix is not supported.");

        var surfaces = new List<TokenSurface>(model.Pieces.Length);
        var added = new List<AddedToken>();
        for (int i = 0; i < model.Pieces.Length; i++)
        {
            string piece = model.Pieces[i];
            switch (model.Types[i])
            {
                case PieceType.Control:
                    surfaces.Add(TokenSurface.Control);
                    added.Add(new AddedToken(piece, i, Special: true));
                    break;
                case PieceType.Unknown:
                    surfaces.Add(new TokenSurface(Encoding.UTF8.GetBytes(model.UnkSurface), TokenSurfaceKind.Raw));
                    added.Add(new AddedToken(piece, i, Special: true));
                    break;
                case PieceType.Byte:
                    if (ParseBytePiece(piece) < 0) throw new FormatException($"{path}: byte piece {i} is '{piece}', not <0xXX>.");
                    surfaces.Add(new TokenSurface([(byte)ParseBytePiece(piece)], TokenSurfaceKind.Raw));
                    break;
                default:
                    surfaces.Add(new TokenSurface(Encoding.UTF8.GetBytes(piece.Replace(SpaceSymbol, ' ')), TokenSurfaceKind.Text));
                    break;
            }
        }
        // Tokens a Hugging Face folder adds after the model's own pieces (a <pad> at 32000, say).
        try { CheckIds(Enumerable.Range(0, model.Pieces.Length).Concat((config?.AddedTokens ?? []).Select(t => t.Id))); }
        catch (FormatException bad) { throw new FormatException($"{path}: {TokenizerConfig.FileName} beside it: {bad.Message}.", bad); }
        foreach (var token in config?.AddedTokens ?? [])
        {
            if (token.Id < model.Pieces.Length) continue;
            while (surfaces.Count <= token.Id) surfaces.Add(TokenSurface.Control);
            surfaces[token.Id] = token.Special
                ? TokenSurface.Control
                : new TokenSurface(Encoding.UTF8.GetBytes(token.Content), TokenSurfaceKind.Raw);
            added.Add(token);
        }

        int IdOf(string? text)
        {
            if (text is null) return -1;
            int id = Array.IndexOf(model.Pieces, text);
            return id >= 0 ? id : added.Find(t => t.Content == text)?.Id ?? -1;
        }
        int bos = IdOf(config?.BosToken) is >= 0 and var b ? b : IdOf(model.BosPiece);
        int eos = IdOf(config?.EosToken) is >= 0 and var e ? e : IdOf(model.EosPiece);
        return new SentencePieceBpeTokenizer(model, [.. surfaces], added, bos, eos);
    }

    private protected override void EncodeSegment(ReadOnlySpan<char> text, bool atStartOfInput, List<int> ids)
    {
        // SentencePiece, Hugging Face's legacy Llama tokenizers and llama.cpp all give every segment between
        // special tokens its own dummy prefix, so atStartOfInput does not matter here.
        string normalized = Normalize(text);
        if (normalized.Length == 0) return;
        var symbols = Split(normalized);

        // SentencePiece merges into UNUSED pieces too, then splits them back into the two pieces they were
        // merged from (its rev_merge table); no model this project uses has any.
        Dictionary<string, (string Left, string Right)>? revMerge = hasUnusedPieces ? [] : null;
        BpeMerger.PairRule rule = (ReadOnlySpan<char> s, in BpeMerger.Symbol left, in BpeMerger.Symbol right, out float score, out int id) =>
        {
            if (!pieceIds.TryGetValue(s.Slice(left.Start, left.Length + right.Length), out id))
            {
                score = 0;
                return false;
            }
            score = model.Scores[id];
            if (revMerge is not null && model.Types[id] == PieceType.Unused)
            {
                revMerge[s.Slice(left.Start, left.Length + right.Length).ToString()] =
                    (s.Slice(left.Start, left.Length).ToString(), s.Slice(right.Start, right.Length).ToString());
            }
            return true;
        };
        BpeMerger.Run(normalized, symbols, rule);

        for (int i = 0; i >= 0; i = symbols[i].Next)
            Emit(normalized.AsSpan(symbols[i].Start, symbols[i].Length), revMerge, ids);
    }

    private void Emit(ReadOnlySpan<char> piece, Dictionary<string, (string Left, string Right)>? revMerge, List<int> ids)
    {
        if (pieceIds.TryGetValue(piece, out int id))
        {
            if (revMerge is not null && model.Types[id] == PieceType.Unused && revMerge.TryGetValue(piece.ToString(), out var halves))
            {
                Emit(halves.Left, revMerge, ids);
                Emit(halves.Right, revMerge, ids);
            }
            else
            {
                ids.Add(id);
            }
        }
        else if (model.ByteFallback)
        {
            Span<byte> utf8 = stackalloc byte[Encoding.UTF8.GetMaxByteCount(piece.Length)];
            foreach (byte b in utf8[..Encoding.UTF8.GetBytes(piece, utf8)]) ids.Add(byteIds[b]);
        }
        else if (ids.Count == 0 || ids[^1] != unkId)
        {
            ids.Add(unkId); // SentencePiece merges a run of unknown pieces into one
        }
    }

    /// <summary>SentencePiece's normalizer for the identity rule set: optionally trim and collapse spaces, add
    /// the dummy prefix, and write spaces as ▁.</summary>
    private string Normalize(ReadOnlySpan<char> text)
    {
        char space = model.EscapeWhitespaces ? SpaceSymbol : ' ';
        if (model.RemoveExtraWhitespaces) text = text.Trim(' ');
        if (text.IsEmpty) return "";
        var sb = new StringBuilder(text.Length + 1);
        if (model.AddDummyPrefix) sb.Append(space);
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] != ' ') sb.Append(text[i]);
            else if (!(model.RemoveExtraWhitespaces && text[i - 1] == ' ')) sb.Append(space);
        }
        return sb.ToString();
    }

    /// <summary>One symbol per character, except that a user-defined piece starting at a position is one frozen
    /// symbol (SentencePiece's prefix matcher).</summary>
    private BpeMerger.Symbol[] Split(string normalized) =>
        userDefinedByFirstChar.Count == 0 ? BpeMerger.Split(normalized) : BpeMerger.Split(normalized, UserDefinedLengthAt);

    private int UserDefinedLengthAt(string text, int i) =>
        userDefinedByFirstChar.TryGetValue(text[i], out var candidates)
            ? Array.Find(candidates, c => text.AsSpan(i).StartsWith(c, StringComparison.Ordinal))?.Length ?? 0
            : 0;

    /// <summary>The byte of a <c>&lt;0xXX&gt;</c> piece, or -1.</summary>
    internal static int ParseBytePiece(string piece) =>
        piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
        && byte.TryParse(piece.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte b)
            ? b : -1;
}
