namespace CtcDrafter.Kernels;

/// <summary>
/// A matrix of 32-weight blocks with one fp32 scale per row and block, stored in row groups (<see cref="RowGroups"/>)
/// and multiplied by <see cref="RowGroupMatMul"/>; <typeparamref name="TBlocks"/> holds what a block's bytes mean.
/// </summary>
internal abstract unsafe class RowGroupMatrix<TBlocks> : WeightMatrix where TBlocks : IRowGroupBlocks
{
    public const int BlockSize = RowGroups.BlockSize;

    /// <summary>Bytes per row and block.</summary>
    static int RowBytes => TBlocks.BlockBytes / RowGroups.Rows;

    byte* _weights;  // [groups, blocks, words, 16 rows, word bytes]
    float* _scales;  // [groups, blocks, 16]
    readonly NativeBuffer _owned;

    /// <summary>Blocks per row.</summary>
    protected int BlocksPerRow { get; }

    protected RowGroupMatrix(int rows, int cols) : base(rows, cols)
    {
        BlocksPerRow = cols / BlockSize;
        long groupBlocks = (long)RowGroups.Count(rows) * BlocksPerRow;
        long scalesOffset = NativeBuffer.AlignUp(groupBlocks * TBlocks.BlockBytes);
        _owned = new NativeBuffer(scalesOffset + groupBlocks * RowGroups.Rows * sizeof(float), zeroed: true);
        _weights = _owned.Pointer;
        _scales = (float*)(_owned.Pointer + scalesOffset);
    }

    public override long Bytes => (long)RowGroups.Count(Rows) * BlocksPerRow * (TBlocks.BlockBytes + RowGroups.Rows * sizeof(float));

    /// <summary>Stores block b of row r: its bytes in the row's own order and its scale.</summary>
    protected void SetBlock(int r, int b, float scale, ReadOnlySpan<byte> bytes)
    {
        for (int n = 0; n < RowBytes; n++) _weights[Offset(r, b, n)] = bytes[n];
        _scales[RowGroups.Scale(r, b, BlocksPerRow)] = scale;
    }

    /// <summary>Byte n of block b of row r, in the row's own order.</summary>
    protected byte Byte(int r, int b, int n) => _weights[Offset(r, b, n)];

    nint Offset(int r, int b, int n) => RowGroups.Offset(r, b, n, BlocksPerRow, RowBytes, TBlocks.WordBytes);

    /// <summary>The scale of block b of row r.</summary>
    public float Scale(int r, int b) => _scales[RowGroups.Scale(r, b, BlocksPerRow)];

    public override void MatMul(ReadOnlySpan<float> x, Span<float> y, int tokens) => MatMul(x, y, tokens, RowGroupMatMul.Best);

    /// <summary>MatMul on a chosen instruction set (tests compare them).</summary>
    internal void MatMul(ReadOnlySpan<float> x, Span<float> y, int tokens, RowGroupIsa isa) =>
        MatMulRowGroups<TBlocks>(_weights, _scales, x, y, tokens, isa);

    protected override bool TryMatMulShared(ReadOnlySpan<float> x, int tokens, Span<float> y0, WeightMatrix w1, Span<float> y1,
        WeightMatrix? w2, Span<float> y2)
    {
        var g2 = w2 as RowGroupMatrix<TBlocks>;
        if (w1 is not RowGroupMatrix<TBlocks> g1 || g1.Cols != Cols || (w2 is not null && (g2 is null || g2.Cols != Cols))) return false;
        CheckArguments(x, y0, tokens);
        g1.CheckArguments(x, y1, tokens);
        g2?.CheckArguments(x, y2, tokens);
        float[] records = QuantizedActivations.Rent(tokens, Cols);
        try
        {
            fixed (float* px = x, p0 = y0, p1 = y1, p2 = y2, pr = records)
            {
                QuantizedActivations.Quantize(px, tokens, Cols, pr);
                RowGroupMatMul.MatMul<TBlocks>(Cols, pr, tokens, RowGroupMatMul.Best, Product(p0), g1.Product(p1), g2?.Product(p2) ?? default);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(records);
        }
        GC.KeepAlive(g1);
        GC.KeepAlive(g2);
        return true;
    }

    RowGroupProduct Product(float* y) => new(_weights, _scales, Rows, y);

    public override void Dispose()
    {
        _owned.Dispose();
        _weights = null;
        _scales = null;
    }
}
