using System.Text;

namespace CtcDrafter.Text;

/// <summary>
/// SentencePiece-style BPE from a <c>tokenizer.json</c> (the Hugging Face form of LLaMA and Mistral tokenizers):
/// spaces written as ▁, a ▁ prefix, merges applied by rank (Hugging Face's BPE, which ranks the merges where
/// SentencePiece scores the merged pieces) and byte fallback for characters outside the vocabulary.
/// </summary>
internal sealed class MetaspaceBpeTokenizer : TextTokenizer
{
    private const char SpaceSymbol = '\u2581'; // ▁

    private enum PrefixRule { None, Always, IfMissing, IfMissingAtStart }

    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> vocab;
    private readonly Dictionary<(int Left, int Right), (int Rank, int Id)> merges;
    private readonly PrefixRule prefix;
    private readonly bool splitWords;
    private readonly bool byteFallback;
    private readonly bool fuseUnknown;
    private readonly int unkId;

    private MetaspaceBpeTokenizer(TokenizerJson json, TokenSurface[] surfaces, PrefixRule prefix, bool splitWords,
        Dictionary<(int, int), (int, int)> merges)
        : base(surfaces, json.AddedTokens, json.BosToken is not null ? json.IdOf(json.BosToken) : json.FirstIdOf("<s>"),
            json.EosToken is not null ? json.IdOf(json.EosToken) : json.FirstIdOf("</s>"),
            dropsLeadingSpace: prefix != PrefixRule.None)
    {
        vocab = new Dictionary<string, int>(json.Vocab, StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();
        this.merges = merges;
        this.prefix = prefix;
        this.splitWords = splitWords;
        byteFallback = (bool?)json.Model["byte_fallback"] ?? false;
        fuseUnknown = (bool?)json.Model["fuse_unk"] ?? false;
        unkId = json.IdOf((string?)json.Model["unk_token"]);
    }

    public static MetaspaceBpeTokenizer Create(TokenizerJson json)
    {
        // Legacy LLaMA files: normalizer Prepend("▁") + Replace(" ", "▁"). Newer ones: a Metaspace pre-tokenizer,
        // which adds the prefix only when the text does not already start with ▁.
        bool spaces = false, splitWords = false;
        var prefix = PrefixRule.None;
        foreach (var c in TokenizerJson.Components(json.Normalizer))
        {
            switch (TokenizerJson.Type(c))
            {
                case "Prepend" when (string?)c["prepend"] == "\u2581": prefix = PrefixRule.Always; break;
                case "Replace" when ((string?)c["pattern"]?["String"]) == " " && (string?)c["content"] == "\u2581": spaces = true; break;
                default: throw json.Unsupported($"normalizer '{TokenizerJson.Type(c)}'");
            }
        }
        foreach (var c in TokenizerJson.Components(json.PreTokenizer))
        {
            if (TokenizerJson.Type(c) != "Metaspace" || (string?)c["replacement"] != "\u2581")
                throw json.Unsupported($"pre-tokenizer '{TokenizerJson.Type(c)}'");
            spaces = true;
            splitWords = (bool?)c["split"] ?? true;
            prefix = ((string?)c["prepend_scheme"], (bool?)c["add_prefix_space"]) switch
            {
                ("always", _) or (null, true or null) => PrefixRule.IfMissing,
                ("first", _) => PrefixRule.IfMissingAtStart,
                _ => PrefixRule.None,
            };
        }
        if (!spaces)
            throw json.Unsupported("a BPE tokenizer.json that is neither byte-level nor SentencePiece-style (spaces as \u2581)");

        var ranks = new Dictionary<(int, int), (int, int)>();
        for (int rank = 0; rank < json.Merges.Count; rank++)
        {
            var (left, right) = json.Merges[rank];
            ranks.TryAdd((json.Vocab[left], json.Vocab[right]), (rank, json.Vocab[left + right]));
        }

        var surfaces = new TokenSurface[json.VocabSize];
        Array.Fill(surfaces, TokenSurface.Control);
        foreach (var (token, id) in json.Vocab)
        {
            // Hugging Face's decoder fuses the tokens and then strips one leading space, so byte tokens count as text.
            int b = SentencePieceBpeTokenizer.ParseBytePiece(token);
            surfaces[id] = b >= 0
                ? new TokenSurface([(byte)b], TokenSurfaceKind.Text)
                : new TokenSurface(Encoding.UTF8.GetBytes(token.Replace(SpaceSymbol, ' ')), TokenSurfaceKind.Text);
        }
        foreach (var token in json.AddedTokens)
        {
            surfaces[token.Id] = token.Special
                ? TokenSurface.Control
                : new TokenSurface(Encoding.UTF8.GetBytes(token.Content), TokenSurfaceKind.Raw);
        }
        return new MetaspaceBpeTokenizer(json, surfaces, prefix, splitWords, ranks);
    }

    private protected override void EncodeSegment(ReadOnlySpan<char> text, bool atStartOfInput, List<int> ids)
    {
        if (text.IsEmpty) return;
        string normalized = text.ToString().Replace(' ', SpaceSymbol);
        bool addPrefix = prefix switch
        {
            PrefixRule.Always => true,
            PrefixRule.IfMissing => normalized[0] != SpaceSymbol,
            PrefixRule.IfMissingAtStart => atStartOfInput && normalized[0] != SpaceSymbol,
            _ => false,
        };
        if (addPrefix) normalized = SpaceSymbol + normalized;
        if (!splitWords)
        {
            EncodeWord(normalized, ids);
            return;
        }
        // Metaspace's split keeps each ▁ with the word after it: "a▁▁b" -> "a", "▁", "▁b".
        int start = 0;
        for (int i = 1; i <= normalized.Length; i++)
        {
            if (i == normalized.Length || normalized[i] == SpaceSymbol)
            {
                EncodeWord(normalized[start..i], ids);
                start = i;
            }
        }
    }

    private void EncodeWord(string word, List<int> ids)
    {
        var symbols = BpeMerger.Split(word);
        for (int i = 0; i < symbols.Length; i++)
            symbols[i].Id = vocab.TryGetValue(word.AsSpan(symbols[i].Start, symbols[i].Length), out int id) ? id : -1;
        BpeMerger.Run(word, symbols, (ReadOnlySpan<char> _, in BpeMerger.Symbol left, in BpeMerger.Symbol right, out float score, out int merged) =>
        {
            if (left.Id >= 0 && right.Id >= 0 && merges.TryGetValue((left.Id, right.Id), out var m))
            {
                score = -m.Rank;
                merged = m.Id;
                return true;
            }
            score = 0;
            merged = -1;
            return false;
        });
        for (int i = 0; i >= 0; i = symbols[i].Next)
        {
            if (symbols[i].Id >= 0)
            {
                ids.Add(symbols[i].Id);
            }
            else if (byteFallback)
            {
                foreach (byte b in Encoding.UTF8.GetBytes(word.Substring(symbols[i].Start, symbols[i].Length)))
                    ids.Add(vocab.TryGetValue($"<0x{b:X2}>", out int byteId) ? byteId : unkId);
            }
            else if (unkId >= 0 && !(fuseUnknown && ids.Count > 0 && ids[^1] == unkId))
            {
                ids.Add(unkId);
            }
        }
    }
}
