using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CtcDrafter.Kernels;

/// <summary>A dense row format (fp32, bf16): how its elements widen to fp32 in registers.</summary>
internal unsafe interface IDenseRow
{
    static abstract int ElementSize { get; }
    static abstract WeightFormat Format { get; }
    /// <summary>The 8 elements at p as fp32 (AVX2).</summary>
    static abstract Vector256<float> Load8(byte* p);
    /// <summary>The 16 elements at p as fp32 (AVX-512).</summary>
    static abstract Vector512<float> Load16(byte* p);
    static abstract float Load1(byte* p);
    /// <summary>Stores an fp32 value as one element (rounded to the format).</summary>
    static abstract void Store1(float value, byte* p);
}

/// <summary>AVX2/FMA register tiles over a dense row-major W [rows, cols]; columns past the last multiple of 8 are summed in scalar.</summary>
internal readonly unsafe struct DenseKernel<TRow>(byte* w, int rows, int cols) : IRowKernel where TRow : struct, IDenseRow
{
    readonly nint _stride = (nint)cols * TRow.ElementSize;

    public int Rows => rows;
    public int Cols => cols;
    public int Stride => cols;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public Vector128<float> Rows4(int r0, int r1, int r2, int r3, float* x)
    {
        byte* p0 = w + r0 * _stride, p1 = w + r1 * _stride, p2 = w + r2 * _stride, p3 = w + r3 * _stride;
        byte* next = p3 + _stride; // the next 4 rows, prefetched at the pace these 4 are read
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        nint c = 0;
        for (; c <= cols - 8; c += 8)
        {
            Vector256<float> xv = Vector256.Load(x + c);
            nint o = c * TRow.ElementSize;
            for (int line = 0; line < TRow.ElementSize / 2; line++) Sse.Prefetch0(next + 4 * o + 64 * line);
            a0 = Fma.MultiplyAdd(TRow.Load8(p0 + o), xv, a0);
            a1 = Fma.MultiplyAdd(TRow.Load8(p1 + o), xv, a1);
            a2 = Fma.MultiplyAdd(TRow.Load8(p2 + o), xv, a2);
            a3 = Fma.MultiplyAdd(TRow.Load8(p3 + o), xv, a3);
        }
        Vector128<float> s = TiledMatMul.Sum4(a0, a1, a2, a3);
        return c == cols ? s : s + DenseTails<TRow>.Rows4(p0, p1, p2, p3, x, c, cols);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Tile2x4(int r0, int r1, float* x0, float* x1, float* x2, float* x3, out Vector128<float> s0, out Vector128<float> s1)
    {
        byte* p0 = w + r0 * _stride, p1 = w + r1 * _stride;
        byte* next = p1 + 3 * _stride; // the 2 rows after the next 2, prefetched at the pace these 2 are read
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        nint c = 0;
        for (; c <= cols - 8; c += 8)
        {
            nint o = c * TRow.ElementSize;
            Sse.Prefetch1(next + 2 * o);
            Vector256<float> w0 = TRow.Load8(p0 + o);
            Vector256<float> w1 = TRow.Load8(p1 + o);
            Vector256<float> xv = Vector256.Load(x0 + c);
            a00 = Fma.MultiplyAdd(w0, xv, a00);
            a10 = Fma.MultiplyAdd(w1, xv, a10);
            xv = Vector256.Load(x1 + c);
            a01 = Fma.MultiplyAdd(w0, xv, a01);
            a11 = Fma.MultiplyAdd(w1, xv, a11);
            xv = Vector256.Load(x2 + c);
            a02 = Fma.MultiplyAdd(w0, xv, a02);
            a12 = Fma.MultiplyAdd(w1, xv, a12);
            xv = Vector256.Load(x3 + c);
            a03 = Fma.MultiplyAdd(w0, xv, a03);
            a13 = Fma.MultiplyAdd(w1, xv, a13);
        }
        s0 = TiledMatMul.Sum4(a00, a01, a02, a03);
        s1 = TiledMatMul.Sum4(a10, a11, a12, a13);
        if (c == cols) return;
        DenseTails<TRow>.Tile2x4(p0, p1, x0, x1, x2, x3, c, cols, ref s0, ref s1);
    }

    /// <summary>16 sums in registers: each (row, token) sum runs the same per-lane code as in <see cref="Tile2x4"/> and <see cref="Rows4"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Tile4x4(int r0, int r1, int r2, int r3, float* x0, float* x1, float* x2, float* x3,
        out Vector128<float> s0, out Vector128<float> s1, out Vector128<float> s2, out Vector128<float> s3)
    {
        byte* p0 = w + r0 * _stride, p1 = w + r1 * _stride, p2 = w + r2 * _stride, p3 = w + r3 * _stride;
        byte* next = p3 + _stride; // the next 4 rows, prefetched at the pace these 4 are read
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector256<float> a30 = default, a31 = default, a32 = default, a33 = default;
        nint c = 0;
        for (; c <= cols - 8; c += 8)
        {
            nint o = c * TRow.ElementSize;
            Sse.Prefetch1(next + 4 * o);
            Vector256<float> w0 = TRow.Load8(p0 + o), w1 = TRow.Load8(p1 + o), w2 = TRow.Load8(p2 + o), w3 = TRow.Load8(p3 + o);
            Vector256<float> xv = Vector256.Load(x0 + c);
            a00 = Fma.MultiplyAdd(w0, xv, a00); a10 = Fma.MultiplyAdd(w1, xv, a10); a20 = Fma.MultiplyAdd(w2, xv, a20); a30 = Fma.MultiplyAdd(w3, xv, a30);
            xv = Vector256.Load(x1 + c);
            a01 = Fma.MultiplyAdd(w0, xv, a01); a11 = Fma.MultiplyAdd(w1, xv, a11); a21 = Fma.MultiplyAdd(w2, xv, a21); a31 = Fma.MultiplyAdd(w3, xv, a31);
            xv = Vector256.Load(x2 + c);
            a02 = Fma.MultiplyAdd(w0, xv, a02); a12 = Fma.MultiplyAdd(w1, xv, a12); a22 = Fma.MultiplyAdd(w2, xv, a22); a32 = Fma.MultiplyAdd(w3, xv, a32);
            xv = Vector256.Load(x3 + c);
            a03 = Fma.MultiplyAdd(w0, xv, a03); a13 = Fma.MultiplyAdd(w1, xv, a13); a23 = Fma.MultiplyAdd(w2, xv, a23); a33 = Fma.MultiplyAdd(w3, xv, a33);
        }
        s0 = TiledMatMul.Sum4(a00, a01, a02, a03);
        s1 = TiledMatMul.Sum4(a10, a11, a12, a13);
        s2 = TiledMatMul.Sum4(a20, a21, a22, a23);
        s3 = TiledMatMul.Sum4(a30, a31, a32, a33);
        if (c == cols) return;
        // The scalar tail, as Tile2x4 sums it.
        DenseTails<TRow>.Tile2x4(p0, p1, x0, x1, x2, x3, c, cols, ref s0, ref s1);
        DenseTails<TRow>.Tile2x4(p2, p3, x0, x1, x2, x3, c, cols, ref s2, ref s3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public Vector128<float> Tile2x2(int r0, int r1, float* x0, float* x1)
    {
        byte* p0 = w + r0 * _stride, p1 = w + r1 * _stride;
        byte* next = p1 + 3 * _stride; // the 2 rows after the next 2, prefetched at the pace these 2 are read
        Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default;
        nint c = 0;
        for (; c <= cols - 8; c += 8)
        {
            nint o = c * TRow.ElementSize;
            Sse.Prefetch1(next + 2 * o);
            Vector256<float> w0 = TRow.Load8(p0 + o);
            Vector256<float> w1 = TRow.Load8(p1 + o);
            Vector256<float> xa = Vector256.Load(x0 + c);
            Vector256<float> xb = Vector256.Load(x1 + c);
            a00 = Fma.MultiplyAdd(w0, xa, a00);
            a01 = Fma.MultiplyAdd(w0, xb, a01);
            a10 = Fma.MultiplyAdd(w1, xa, a10);
            a11 = Fma.MultiplyAdd(w1, xb, a11);
        }
        Vector128<float> s = TiledMatMul.Sum4(a00, a01, a10, a11);
        return c == cols ? s : s + DenseTails<TRow>.Tile2x2(p0, p1, x0, x1, c, cols);
    }
}
