using System.Runtime.Intrinsics;
using CtcDrafter.Model;

namespace CtcDrafter.Kernels;

/// <summary>W [rows, cols] in a dense element format (<see cref="F32Row"/>, <see cref="Bf16Row"/>).</summary>
internal sealed unsafe class DenseMatrix<TRow> : WeightMatrix where TRow : struct, IDenseRow
{
    byte* _w; // [rows, cols] elements of TRow.ElementSize bytes
    readonly NativeBuffer? _owned;

    DenseMatrix(int rows, int cols, byte* w, NativeBuffer? owned) : base(rows, cols)
    {
        _w = w;
        _owned = owned;
    }

    /// <summary>A view on memory that stays valid (and unchanged) for the matrix's lifetime: no copy.</summary>
    public static DenseMatrix<TRow> View(byte* w, int rows, int cols) => new(rows, cols, w, null);

    /// <summary>Copies a 2-D tensor of any dtype into owned memory, converting every element.</summary>
    public static DenseMatrix<TRow> Copy(in RawTensor src)
    {
        (int rows, int cols) = Shape2(src);
        var owned = new NativeBuffer((long)rows * cols * TRow.ElementSize);
        byte* w = owned.Pointer;
        float[] row = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            Conversions.ReadF32(src, (long)r * cols, row);
            byte* dst = w + (nint)r * cols * TRow.ElementSize;
            for (int c = 0; c < cols; c++) TRow.Store1(row[c], dst + (nint)c * TRow.ElementSize);
        }
        return new DenseMatrix<TRow>(rows, cols, w, owned);
    }

    public override WeightFormat Format => TRow.Format;

    public override long Bytes => (long)Rows * Cols * TRow.ElementSize;

    /// <summary>The 16-lane kernel where AVX-512 runs, else the 8-lane one: one of them for every T on a machine.</summary>
    public override void MatMul(ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        if (Lanes16<TRow>.Supported) MatMulTiled(Kernel512, x, y, tokens);
        else MatMulTiled(Kernel, x, y, tokens);
    }

    protected override bool TryMatMulShared(ReadOnlySpan<float> x, int tokens, Span<float> y0, WeightMatrix w1, Span<float> y1,
        WeightMatrix? w2, Span<float> y2)
    {
        var d2 = w2 as DenseMatrix<TRow>;
        if (!HasAvx2Fma || w1 is not DenseMatrix<TRow> d1 || d1.Cols != Cols || (w2 is not null && (d2 is null || d2.Cols != Cols))) return false;
        CheckArguments(x, y0, tokens);
        d1.CheckArguments(x, y1, tokens);
        d2?.CheckArguments(x, y2, tokens);
        fixed (float* px = x, p0 = y0, p1 = y1, p2 = y2)
        {
            if (Lanes16<TRow>.Supported) TiledMatMul.MatMul(px, tokens, Kernel512, p0, d1.Kernel512, p1, d2?.Kernel512 ?? default, p2);
            else TiledMatMul.MatMul(px, tokens, Kernel, p0, d1.Kernel, p1, d2?.Kernel ?? default, p2);
        }
        GC.KeepAlive(this);
        GC.KeepAlive(d1);
        GC.KeepAlive(d2);
        return true;
    }

    DenseKernel<TRow, Lanes8<TRow>, Vector256<float>> Kernel => new(_w, Rows, Cols);

    DenseKernel<TRow, Lanes16<TRow>, Vector512<float>> Kernel512 => new(_w, Rows, Cols);

    public override void ReadRow(int r, Span<float> dst)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)r, (uint)Rows, nameof(r));
        byte* src = _w + (nint)r * Cols * TRow.ElementSize;
        for (int c = 0; c < Cols; c++) dst[c] = TRow.Load1(src + (nint)c * TRow.ElementSize);
    }

    public override void Dispose()
    {
        _owned?.Dispose();
        _w = null;
    }
}
