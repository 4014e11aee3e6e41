namespace CtcDrafter.Kernels;

/// <summary>
/// The row-group layout of the Q8 and Q4 formats: rows in groups of 16 (the last one padded with zero rows), and
/// per group and block of 32 columns, the 16 rows' weights interleaved four bytes at a time, so that one 64-byte
/// load holds bytes 4k..4k+3 of the block of every row of the group (row i in int32 lane i). Word k of a block is
/// 4 consecutive int8 weights (Q8: columns 4k..4k+3, k &lt; 8) or 4 bytes of Q4_0 nibbles (Q4: columns 4k..4k+3
/// in the low nibbles, 16 + 4k.. in the high ones, k &lt; 4), in the order of the row's own block.
/// Scales are fp32 per group and block, one per row: [groups, blocks, 16].
/// </summary>
internal static unsafe class RowGroups
{
    public const int Rows = 16, BlockSize = 32;

    /// <summary>Groups of a matrix with <paramref name="rows"/> rows.</summary>
    public static int Count(int rows) => (rows + Rows - 1) / Rows;

    /// <summary>The byte offset of byte j of word k of block b of row r, with <paramref name="words"/> words per row and block.</summary>
    public static nint Offset(int r, int b, int k, int j, int blocks, int words) =>
        ((((nint)(r / Rows) * blocks + b) * words + k) * Rows + r % Rows) * 4 + j;

    /// <summary>The index of the scale of block b of row r.</summary>
    public static nint Scale(int r, int b, int blocks) => ((nint)(r / Rows) * blocks + b) * Rows + r % Rows;

    /// <summary>Stores the <paramref name="words"/> x 4 bytes of block b of row r.</summary>
    public static void Store(byte* layout, int r, int b, int blocks, int words, ReadOnlySpan<byte> block)
    {
        for (int k = 0; k < words; k++)
            for (int j = 0; j < 4; j++) layout[Offset(r, b, k, j, blocks, words)] = block[4 * k + j];
    }

    /// <summary>Byte j of word k of block b of row r.</summary>
    public static byte Load(byte* layout, int r, int b, int k, int j, int blocks, int words) => layout[Offset(r, b, k, j, blocks, words)];
}
