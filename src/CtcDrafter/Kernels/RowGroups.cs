namespace CtcDrafter.Kernels;

/// <summary>
/// The row-group layout of the Q8 and Q4 formats: rows in groups of 16 (the last one padded with zero rows), and
/// per group and block of 32 columns, the 16 rows' bytes interleaved a word at a time, so that one load of 16 words
/// holds word k of the block of every row of the group (row i first). A word is 2 int8 weights (Q8: columns 2k,
/// 2k + 1, which widen to the int16 lane pairs of <c>vpmaddwd</c>) or 4 bytes of Q4_0 nibbles (Q4: columns
/// 4k..4k + 3 in the low nibbles, 16 + 4k.. in the high ones, the int32 lane groups of <c>vpmaddubsw</c>), in the
/// order of the row's own block. Scales are fp32 per group and block, one per row: [groups, blocks, 16].
/// </summary>
internal static unsafe class RowGroups
{
    public const int Rows = 16, BlockSize = 32;

    /// <summary>Groups of a matrix with <paramref name="rows"/> rows.</summary>
    public static int Count(int rows) => (rows + Rows - 1) / Rows;

    /// <summary>The offset of byte n of block b of row r, for blocks of <paramref name="rowBytes"/> bytes per row
    /// in words of <paramref name="wordBytes"/> bytes.</summary>
    public static nint Offset(int r, int b, int n, int blocks, int rowBytes, int wordBytes) =>
        ((nint)(r / Rows) * blocks + b) * rowBytes * Rows + (n / wordBytes * Rows + r % Rows) * wordBytes + n % wordBytes;

    /// <summary>The index of the scale of block b of row r.</summary>
    public static nint Scale(int r, int b, int blocks) => ((nint)(r / Rows) * blocks + b) * Rows + r % Rows;
}
