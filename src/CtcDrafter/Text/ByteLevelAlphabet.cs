namespace CtcDrafter.Text;

/// <summary>GPT-2's byte-to-character table (bytes_to_unicode): byte-level BPE vocabularies spell each byte as
/// one printable character, the byte itself for printable Latin-1 and U+0100 onwards for the rest
/// (space is 'Ġ', newline 'Ċ').</summary>
internal static class ByteLevelAlphabet
{
    public static readonly char[] ByteToChar = BuildTable(); // [256]

    private static readonly Dictionary<char, byte> CharToByte =
        Enumerable.Range(0, 256).ToDictionary(b => ByteToChar[b], b => (byte)b);

    /// <summary>Spells UTF-8 bytes in the alphabet.</summary>
    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) chars[i] = ByteToChar[bytes[i]];
        return new string(chars);
    }

    /// <summary>The bytes a vocabulary entry spells; characters outside the alphabet stand for their own UTF-8.</summary>
    public static byte[] Decode(string token)
    {
        var bytes = new List<byte>(token.Length);
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in token.EnumerateRunes())
        {
            if (rune.IsBmp && CharToByte.TryGetValue((char)rune.Value, out byte b))
            {
                bytes.Add(b);
            }
            else
            {
                bytes.AddRange(utf8[..rune.EncodeToUtf8(utf8)]);
            }
        }
        return [.. bytes];
    }

    private static char[] BuildTable()
    {
        var table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            table[b] = printable ? (char)b : (char)next++;
        }
        return table;
    }
}
