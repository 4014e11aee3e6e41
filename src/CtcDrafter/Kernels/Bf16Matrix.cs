using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using CtcDrafter.Model;

namespace CtcDrafter.Kernels;

/// <summary>bfloat16 elements: the upper half of an fp32, so widening is a 16-bit shift.</summary>
internal readonly unsafe struct Bf16Row : IDenseRow
{
    public static int ElementSize => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* p) =>
        Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((ushort*)p), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* p) => Conversions.Bf16ToF32(*(ushort*)p);
}

/// <summary>W [rows, cols] in bfloat16.</summary>
internal sealed unsafe class Bf16Matrix : WeightMatrix
{
    ushort* _w; // [rows, cols]
    readonly NativeBuffer? _owned;

    Bf16Matrix(int rows, int cols, ushort* w, NativeBuffer? owned) : base(rows, cols)
    {
        _w = w;
        _owned = owned;
    }

    /// <summary>A view on memory that stays valid (and unchanged) for the matrix's lifetime: no copy.</summary>
    public static Bf16Matrix View(ushort* w, int rows, int cols) => new(rows, cols, w, null);

    /// <summary>Copies a 2-D tensor of any dtype into owned memory, narrowing with round-to-nearest-even.</summary>
    public static Bf16Matrix Copy(in RawTensor src)
    {
        (int rows, int cols) = Shape2(src);
        var owned = new NativeBuffer((long)rows * cols * sizeof(ushort));
        ushort* w = (ushort*)owned.Pointer;
        float[] row = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            Conversions.ReadF32(src, (long)r * cols, row);
            ushort* dst = w + (nint)r * cols;
            for (int c = 0; c < cols; c++) dst[c] = Conversions.F32ToBf16(row[c]);
        }
        return new Bf16Matrix(rows, cols, w, owned);
    }

    public override WeightFormat Format => WeightFormat.BF16;

    public override long Bytes => (long)Rows * Cols * sizeof(ushort);

    public override void MatMul(ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        CheckArguments(x, y, tokens);
        if (!HasAvx2Fma)
        {
            MatMulPortable(x, y, tokens);
            return;
        }
        fixed (float* px = x, py = y)
            TiledMatMul.MatMul(new DenseKernel<Bf16Row>((byte*)_w, Rows, Cols), px, py, tokens);
        GC.KeepAlive(this);
    }

    public override void MatMulReference(ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        CheckArguments(x, y, tokens);
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < Rows; r++)
            {
                double sum = 0;
                for (int c = 0; c < Cols; c++)
                    sum += (double)Conversions.Bf16ToF32(_w[(nint)r * Cols + c]) * x[t * Cols + c];
                y[t * Rows + r] = (float)sum;
            }
    }

    public override void ReadRow(int r, Span<float> dst)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)r, (uint)Rows, nameof(r));
        ushort* src = _w + (nint)r * Cols;
        for (int c = 0; c < Cols; c++) dst[c] = Conversions.Bf16ToF32(src[c]);
    }

    public override void Dispose()
    {
        _owned?.Dispose();
        _w = null;
    }
}
