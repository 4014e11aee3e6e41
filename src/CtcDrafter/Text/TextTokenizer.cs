using System.Buffers;

namespace CtcDrafter.Text;

/// <summary>
/// Turns text into token ids and back, for a model's SentencePiece <c>tokenizer.model</c> or Hugging Face
/// <c>tokenizer.json</c>. Encoding reproduces the reference tokenizer's ids exactly; decoding skips control
/// tokens (BOS, EOS, chat markers) and, like SentencePiece, drops the leading space its encoder added.
/// Instances are immutable and safe to share between threads.
/// </summary>
public abstract class TextTokenizer
{
    private readonly TokenSurface[] surfaces; // [VocabSize]
    private readonly bool dropsLeadingSpace;
    private readonly int maxTokenBytes; // the longest text one token stands for, in UTF-8 bytes
    private readonly AddedTokenMatcher ordinaryTokens;
    private readonly AddedTokenMatcher allAddedTokens;

    private protected TextTokenizer(
        TokenSurface[] surfaces, IEnumerable<AddedToken> addedTokens, int bosId, int eosId, bool dropsLeadingSpace)
    {
        this.surfaces = surfaces;
        this.dropsLeadingSpace = dropsLeadingSpace;
        var added = addedTokens.ToArray();
        maxTokenBytes = Math.Max(1, Math.Max(surfaces.Max(t => t.Bytes.Length),
            added.Select(t => System.Text.Encoding.UTF8.GetByteCount(t.Content)).DefaultIfEmpty(0).Max()));
        ordinaryTokens = new AddedTokenMatcher(added.Where(t => !t.Special));
        allAddedTokens = new AddedTokenMatcher(added);
        BosId = bosId;
        EosId = eosId;
    }

    /// <summary>Number of token ids, including added tokens; ids run from 0 to <c>VocabSize - 1</c>.</summary>
    public int VocabSize => surfaces.Length;

    /// <summary>The beginning-of-sequence token id, or -1 if the tokenizer has none.</summary>
    public int BosId { get; }

    /// <summary>The end-of-sequence token id, or -1 if the tokenizer has none.</summary>
    public int EosId { get; }

    /// <summary>Encodes <paramref name="text"/> into token ids.</summary>
    /// <param name="text">The text; may be empty.</param>
    /// <param name="addBos">Prepend <see cref="BosId"/> (ignored when the tokenizer has no BOS token).</param>
    /// <param name="parseSpecial">Map exact occurrences of special-token texts (<c>&lt;s&gt;</c>,
    /// <c>&lt;/s&gt;</c>, control pieces and added special tokens) to their ids, as Hugging Face tokenizers do.
    /// With <c>false</c> (the default, and what SentencePiece itself does) such texts are encoded as ordinary
    /// characters. Chat prompts are encoded by <see cref="ChatTemplate.Encode"/>, which parses the template's special
    /// tokens but not those typed inside messages.</param>
    public IReadOnlyList<int> Encode(string text, bool addBos, bool parseSpecial = false) =>
        Encode(text, addBos, parseSpecial ? allAddedTokens : ordinaryTokens, []);

    /// <summary>Encodes text with special tokens parsed everywhere except inside <paramref name="plainText"/>, where
    /// their texts are ordinary characters (a chat prompt's message contents: see <see cref="ChatTemplate.Encode"/>).</summary>
    internal IReadOnlyList<int> Encode(string text, bool addBos, IReadOnlyList<Range> plainText) =>
        Encode(text, addBos, allAddedTokens, plainText);

    private List<int> Encode(string text, bool addBos, AddedTokenMatcher matcher, IReadOnlyList<Range> plainText)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        if (addBos && BosId >= 0) ids.Add(BosId);
        // A special token is matched only where it lies wholly outside the plain-text ranges.
        bool Allowed(int position, AddedToken token) => !token.Special || !plainText.Any(r =>
            position < r.End.GetOffset(text.Length) && r.Start.GetOffset(text.Length) < position + token.Content.Length);
        int start = 0;
        while (!matcher.IsEmpty && matcher.TryFindNext(text, start, Allowed, out int position, out var token))
        {
            if (position > start) EncodeSegment(text.AsSpan(start, position - start), start == 0, ids);
            ids.Add(token.Id);
            start = position + token.Content.Length;
        }
        if (start < text.Length) EncodeSegment(text.AsSpan(start), start == 0, ids);
        return ids;
    }

    /// <summary>
    /// A lower bound on the number of tokens <paramref name="text"/> encodes to, found without tokenizing it, so that a
    /// prompt that cannot fit a context is refused by its length alone. One token stands for at most the longest token
    /// text; whitespace is left out of the count (a normalizer may collapse runs of it) and a factor of 4 allows for
    /// normalization shrinking a character (NFKC maps some 4-byte characters to 1 byte).
    /// </summary>
    internal long MinimumTokens(string text)
    {
        long bytes = 0;
        foreach (var rune in text.EnumerateRunes())
            if (!System.Text.Rune.IsWhiteSpace(rune)) bytes += rune.Utf8SequenceLength;
        return bytes / (4L * maxTokenBytes);
    }

    /// <summary>Decodes token ids to text, skipping control tokens; equal to pushing every id through a
    /// <see cref="NewStreamingDecoder"/> and flushing it.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside <c>[0, VocabSize)</c>.</exception>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new ArrayBufferWriter<byte>();
        bool atStart = true;
        foreach (int id in ids) bytes.Write(Surface(id, ref atStart));
        return Utf8Text.Encoding.GetString(bytes.WrittenSpan);
    }

    /// <summary>The UTF-8 bytes a token stands for in running text (empty for control tokens), as OpenAI's logprobs report them.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The id is outside <c>[0, VocabSize)</c>.</exception>
    public byte[] TokenBytes(int id)
    {
        bool atStart = false;
        return Surface(id, ref atStart).ToArray();
    }

    /// <summary>Starts decoding a token stream one id at a time.</summary>
    /// <param name="atStartOfText">True when the stream starts the text (the leading space of its first token is
    /// dropped, as in <see cref="Decode"/>); false when it continues text already shown, such as the prompt.</param>
    public StreamingDecoder NewStreamingDecoder(bool atStartOfText = true) => new(this, atStartOfText);

    /// <summary>
    /// Loads a tokenizer from a model folder (its <c>tokenizer.model</c>, else its <c>tokenizer.json</c>, plus
    /// <c>tokenizer_config.json</c> when present), from a SentencePiece <c>.model</c> or <c>tokenizer.json</c>
    /// file (told apart by content), or from a GGUF file's metadata (<c>*.gguf</c>).
    /// </summary>
    /// <exception cref="FileNotFoundException">No such file, or a folder without a tokenizer.</exception>
    /// <exception cref="FormatException">The file is malformed; the message names the file and the problem.</exception>
    /// <exception cref="NotSupportedException">The file is valid but uses a feature the engine lacks.</exception>
    public static TextTokenizer Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string file;
        if (Directory.Exists(path))
        {
            file = Path.Combine(path, "tokenizer.model");
            if (!File.Exists(file)) file = Path.Combine(path, "tokenizer.json");
            if (!File.Exists(file))
                throw new FileNotFoundException($"{path}: the folder has no tokenizer.model or tokenizer.json.", path);
        }
        else if (File.Exists(path))
        {
            file = path;
        }
        else
        {
            throw new FileNotFoundException($"{path}: no such tokenizer file or folder.", path);
        }
        if (Model.GgufModel.IsGguf(file)) return GgufTokenizer(file);
        var config = TokenizerConfig.TryRead(Path.GetDirectoryName(Path.GetFullPath(file))!);
        byte[] data = File.ReadAllBytes(file);
        return LooksLikeJson(data)
            ? TokenizerJson.Load(data, file, config)
            : SentencePieceBpeTokenizer.Load(data, file, config);
    }

    /// <summary>Encodes <paramref name="text"/>, which contains no added tokens, and appends the ids to
    /// <paramref name="ids"/>; <paramref name="atStartOfInput"/> tells whether it starts the text given to
    /// <see cref="Encode(string, bool, bool)"/>.</summary>
    private protected abstract void EncodeSegment(ReadOnlySpan<char> text, bool atStartOfInput, List<int> ids);

    /// <summary>The bytes token <paramref name="id"/> adds to decoded text; clears <paramref name="atStart"/>
    /// once a token that is not a control token has been seen.</summary>
    internal ReadOnlySpan<byte> Surface(int id, ref bool atStart)
    {
        if ((uint)id >= (uint)surfaces.Length)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id is outside the vocabulary [0, {VocabSize}).");
        var surface = surfaces[id];
        if (surface.Kind == TokenSurfaceKind.Control) return default;
        ReadOnlySpan<byte> bytes = surface.Bytes;
        if (atStart && dropsLeadingSpace && surface.Kind == TokenSurfaceKind.Text && bytes is [(byte)' ', ..])
            bytes = bytes[1..];
        atStart = false;
        return bytes;
    }

    // A GGUF file's tokenizer metadata (a whole model, or a vocabulary-only file as llama.cpp ships for its tests).
    private static TextTokenizer GgufTokenizer(string file)
    {
        try
        {
            using var gguf = new Model.GgufFile(file);
            return Model.GgufModel.Tokenizer(gguf) ?? throw new FormatException($"{file}: the GGUF file has no tokenizer metadata.");
        }
        catch (Model.ModelFormatException e)
        {
            throw new FormatException(e.Message, e);
        }
    }

    /// <summary>A tokenizer's tables are indexed by id, so the ids a file defines are checked before anything is
    /// sized by them: none negative, and the largest at most <see cref="MaxUnusedIds"/> past the number of distinct
    /// ids (real vocabularies are contiguous; one stray huge id would otherwise allocate gigabytes first).</summary>
    /// <exception cref="FormatException">An id breaks the rule; the message gives the id and the limit.</exception>
    internal static void CheckIds(IEnumerable<int> ids)
    {
        var distinct = new HashSet<int>();
        foreach (int id in ids)
        {
            if (id < 0) throw new FormatException($"token id {id} is negative");
            distinct.Add(id);
        }
        int largest = distinct.DefaultIfEmpty(-1).Max();
        if ((long)largest + 1 > (long)distinct.Count + MaxUnusedIds)
            throw new FormatException($"token id {largest} is far past the {distinct.Count} ids defined (at most {MaxUnusedIds} ids may be left unused)");
    }

    private const int MaxUnusedIds = 1024;

    private static bool LooksLikeJson(ReadOnlySpan<byte> data)
    {
        if (data.StartsWith("\uFEFF"u8)) data = data[3..];
        data = data.TrimStart(" \t\r\n"u8);
        return data is [(byte)'{', ..];
    }
}
