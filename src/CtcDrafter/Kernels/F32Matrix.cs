using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using CtcDrafter.Model;

namespace CtcDrafter.Kernels;

/// <summary>fp32 elements, as they lie in the file (a view) or copied/converted once.</summary>
internal readonly unsafe struct F32Row : IDenseRow
{
    public static int ElementSize => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* p) => Vector256.Load((float*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* p) => *(float*)p;
}

/// <summary>W [rows, cols] in fp32.</summary>
internal sealed unsafe class F32Matrix : WeightMatrix
{
    float* _w; // [rows, cols]
    readonly NativeBuffer? _owned;

    F32Matrix(int rows, int cols, float* w, NativeBuffer? owned) : base(rows, cols)
    {
        _w = w;
        _owned = owned;
    }

    /// <summary>A view on memory that stays valid (and unchanged) for the matrix's lifetime: no copy.</summary>
    public static F32Matrix View(float* w, int rows, int cols) => new(rows, cols, w, null);

    /// <summary>Copies a 2-D tensor of any dtype into owned memory, decoding to fp32.</summary>
    public static F32Matrix Copy(in RawTensor src)
    {
        (int rows, int cols) = Shape2(src);
        var owned = new NativeBuffer((long)rows * cols * sizeof(float));
        float* w = (float*)owned.Pointer;
        for (int r = 0; r < rows; r++)
            Conversions.ReadF32(src, (long)r * cols, new Span<float>(w + (nint)r * cols, cols));
        return new F32Matrix(rows, cols, w, owned);
    }

    public override WeightFormat Format => WeightFormat.F32;

    public override long Bytes => (long)Rows * Cols * sizeof(float);

    public override void MatMul(ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        CheckArguments(x, y, tokens);
        if (!HasAvx2Fma)
        {
            MatMulPortable(x, y, tokens);
            return;
        }
        fixed (float* px = x, py = y)
            TiledMatMul.MatMul(new DenseKernel<F32Row>((byte*)_w, Rows, Cols), px, py, tokens);
        GC.KeepAlive(this);
    }

    public override void MatMulReference(ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        CheckArguments(x, y, tokens);
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < Rows; r++)
            {
                double sum = 0;
                for (int c = 0; c < Cols; c++) sum += (double)_w[(nint)r * Cols + c] * x[t * Cols + c];
                y[t * Rows + r] = (float)sum;
            }
    }

    public override void ReadRow(int r, Span<float> dst)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)r, (uint)Rows, nameof(r));
        new ReadOnlySpan<float>(_w + (nint)r * Cols, Cols).CopyTo(dst);
    }

    public override void Dispose()
    {
        _owned?.Dispose();
        _w = null;
    }
}
