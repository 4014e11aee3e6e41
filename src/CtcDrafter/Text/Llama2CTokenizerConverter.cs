using System.Buffers.Binary;
using System.Text;
using PieceType = CtcDrafter.Text.SentencePieceModel.PieceType;

namespace CtcDrafter.Text;

/// <summary>
/// Converts a llama2.c tokenizer (<c>tokenizer.bin</c>, <c>tok512.bin</c>) back into the SentencePiece
/// <c>tokenizer.model</c> it was exported from, so that a converted model folder uses the ordinary SentencePiece path.
/// </summary>
/// <remarks>
/// The llama2.c file is an int32 max_token_length, then per token a float32 score, an int32 byte length and the
/// bytes. Its export wrote ▁ as a plain space and BOS/EOS as "\n&lt;s&gt;\n" / "\n&lt;/s&gt;\n"; ids 0, 1, 2 are
/// &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt; and ids 3..258 the byte pieces &lt;0x00&gt;..&lt;0xFF&gt;. llama2.c encodes
/// with a dummy-prefix space, one symbol per UTF-8 character (byte fallback to id byte + 3) and repeated merging
/// of the best-scoring adjacent pair, leftmost on ties: exactly SentencePiece BPE with byte fallback, the
/// identity normalizer and no removal of extra whitespace, which is what the written model declares.
/// </remarks>
internal static class Llama2CTokenizerConverter
{
    private const int FirstByteId = 3;
    private const int FirstPieceId = FirstByteId + 256;

    /// <summary>Reads <paramref name="tokBinPath"/> and writes the SentencePiece model to
    /// <paramref name="outModelPath"/> (through a temporary file, so nothing is left half-written).</summary>
    /// <exception cref="FileNotFoundException">The input file does not exist.</exception>
    /// <exception cref="FormatException">The input is not a llama2.c tokenizer.</exception>
    public static void Convert(string tokBinPath, string outModelPath)
    {
        var model = Read(tokBinPath);
        string temp = outModelPath + ".tmp";
        File.WriteAllBytes(temp, model.Serialize());
        File.Move(temp, outModelPath, overwrite: true);
    }

    /// <summary>Reads a llama2.c tokenizer file as the SentencePiece model it was exported from.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="FormatException">The file is not a llama2.c tokenizer.</exception>
    public static SentencePieceModel Read(string tokBinPath)
    {
        if (!File.Exists(tokBinPath)) throw new FileNotFoundException($"{tokBinPath}: no such file.", tokBinPath);
        return ToModel(File.ReadAllBytes(tokBinPath), tokBinPath);
    }

    internal static SentencePieceModel ToModel(ReadOnlySpan<byte> data, string path)
    {
        var pieces = new List<string>();
        var scores = new List<float>();
        if (data.Length < 4 || BinaryPrimitives.ReadInt32LittleEndian(data) <= 0)
            throw new FormatException($"{path}: not a llama2.c tokenizer (no positive max_token_length header).");
        var utf8 = new UTF8Encoding(false, throwOnInvalidBytes: true);
        for (int pos = 4; pos < data.Length;)
        {
            if (data.Length - pos < 8) throw new FormatException($"{path}: truncated at token {pieces.Count}.");
            float score = BinaryPrimitives.ReadSingleLittleEndian(data[pos..]);
            int length = BinaryPrimitives.ReadInt32LittleEndian(data[(pos + 4)..]);
            pos += 8;
            if (length <= 0 || length > data.Length - pos)
                throw new FormatException($"{path}: token {pieces.Count} has length {length}, past the end of the file.");
            string text;
            try
            {
                text = utf8.GetString(data.Slice(pos, length));
            }
            catch (DecoderFallbackException)
            {
                throw new FormatException($"{path}: token {pieces.Count} is not valid UTF-8.");
            }
            pos += length;
            pieces.Add(text);
            scores.Add(score);
        }
        if (pieces.Count <= FirstPieceId) throw new FormatException($"{path}: only {pieces.Count} tokens; a llama2.c vocabulary has more than {FirstPieceId}.");

        var types = new PieceType[pieces.Count];
        (pieces[0], types[0]) = ("<unk>", PieceType.Unknown);
        (pieces[1], types[1]) = ("<s>", PieceType.Control);
        (pieces[2], types[2]) = ("</s>", PieceType.Control);
        for (int b = 0; b < 256; b++)
        {
            string expected = $"<0x{b:X2}>";
            if (pieces[FirstByteId + b] != expected)
                throw new FormatException($"{path}: token {FirstByteId + b} is '{pieces[FirstByteId + b]}', expected byte piece {expected}.");
            types[FirstByteId + b] = PieceType.Byte;
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = FirstPieceId; i < pieces.Count; i++)
        {
            pieces[i] = pieces[i].Replace(' ', '\u2581');
            types[i] = PieceType.Normal;
            if (!seen.Add(pieces[i])) throw new FormatException($"{path}: token {i} ('{pieces[i]}') appears twice.");
        }
        return new SentencePieceModel
        {
            Pieces = [.. pieces], Scores = [.. scores], Types = types,
            Kind = SentencePieceModel.ModelKind.Bpe, ByteFallback = true,
            NormalizerName = "identity", AddDummyPrefix = true, RemoveExtraWhitespaces = false, EscapeWhitespaces = true,
        };
    }
}
