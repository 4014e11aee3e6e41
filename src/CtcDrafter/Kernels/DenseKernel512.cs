using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CtcDrafter.Kernels;

/// <summary>
/// <see cref="DenseKernel{TRow}"/> on AVX-512: 16 lanes per sum (column c in lane c mod 16), the lanes added at the
/// end as the upper half onto the lower, then in <see cref="TiledMatMul.Sum4"/>'s order; columns past the last
/// multiple of 16 are summed in scalar and added last. Every tile runs this per-lane code, so row t of a T-token
/// product is bitwise the one-token product; on a machine without AVX-512 every tile runs the 8-lane kernel instead.
/// Each weight vector feeds twice the products of an 8-lane one, which is what the compute-bound tiles of a tree
/// verification need.
/// </summary>
internal readonly unsafe struct DenseKernel512<TRow>(byte* w, int rows, int cols) : IRowKernel where TRow : struct, IDenseRow
{
    readonly nint _stride = (nint)cols * TRow.ElementSize;

    /// <summary>Whether this machine runs the kernel.</summary>
    public static bool Supported => Avx512F.IsSupported;

    public int Rows => rows;
    public int Cols => cols;
    public int Stride => cols;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Fold(Vector512<float> a) => a.GetLower() + a.GetUpper();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<float> Sum4(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d) =>
        TiledMatMul.Sum4(Fold(a), Fold(b), Fold(c), Fold(d));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public Vector128<float> Rows4(int r0, int r1, int r2, int r3, float* x)
    {
        byte* p0 = w + r0 * _stride, p1 = w + r1 * _stride, p2 = w + r2 * _stride, p3 = w + r3 * _stride;
        byte* next = p3 + _stride; // the next 4 rows, prefetched at the pace these 4 are read
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        nint c = 0;
        for (; c <= cols - 16; c += 16)
        {
            Vector512<float> xv = Vector512.Load(x + c);
            nint o = c * TRow.ElementSize;
            for (int line = 0; line < TRow.ElementSize; line++) Sse.Prefetch0(next + 4 * o + 64 * line);
            a0 = Avx512F.FusedMultiplyAdd(TRow.Load16(p0 + o), xv, a0);
            a1 = Avx512F.FusedMultiplyAdd(TRow.Load16(p1 + o), xv, a1);
            a2 = Avx512F.FusedMultiplyAdd(TRow.Load16(p2 + o), xv, a2);
            a3 = Avx512F.FusedMultiplyAdd(TRow.Load16(p3 + o), xv, a3);
        }
        Vector128<float> s = Sum4(a0, a1, a2, a3);
        return c == cols ? s : s + DenseTails<TRow>.Rows4(p0, p1, p2, p3, x, c, cols);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Tile2x4(int r0, int r1, float* x0, float* x1, float* x2, float* x3, out Vector128<float> s0, out Vector128<float> s1)
    {
        byte* p0 = w + r0 * _stride, p1 = w + r1 * _stride;
        byte* next = p1 + 3 * _stride; // the 2 rows after the next 2, prefetched at the pace these 2 are read
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        nint c = 0;
        for (; c <= cols - 16; c += 16)
        {
            nint o = c * TRow.ElementSize;
            for (int line = 0; line < TRow.ElementSize / 2; line++) Sse.Prefetch1(next + 2 * o + 64 * line);
            Vector512<float> w0 = TRow.Load16(p0 + o), w1 = TRow.Load16(p1 + o);
            Vector512<float> xv = Vector512.Load(x0 + c);
            a00 = Avx512F.FusedMultiplyAdd(w0, xv, a00);
            a10 = Avx512F.FusedMultiplyAdd(w1, xv, a10);
            xv = Vector512.Load(x1 + c);
            a01 = Avx512F.FusedMultiplyAdd(w0, xv, a01);
            a11 = Avx512F.FusedMultiplyAdd(w1, xv, a11);
            xv = Vector512.Load(x2 + c);
            a02 = Avx512F.FusedMultiplyAdd(w0, xv, a02);
            a12 = Avx512F.FusedMultiplyAdd(w1, xv, a12);
            xv = Vector512.Load(x3 + c);
            a03 = Avx512F.FusedMultiplyAdd(w0, xv, a03);
            a13 = Avx512F.FusedMultiplyAdd(w1, xv, a13);
        }
        s0 = Sum4(a00, a01, a02, a03);
        s1 = Sum4(a10, a11, a12, a13);
        if (c == cols) return;
        DenseTails<TRow>.Tile2x4(p0, p1, x0, x1, x2, x3, c, cols, ref s0, ref s1);
    }

    /// <summary>16 sums in registers (of AVX-512's 32), 4 weight vectors and a token vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Tile4x4(int r0, int r1, int r2, int r3, float* x0, float* x1, float* x2, float* x3,
        out Vector128<float> s0, out Vector128<float> s1, out Vector128<float> s2, out Vector128<float> s3)
    {
        byte* p0 = w + r0 * _stride, p1 = w + r1 * _stride, p2 = w + r2 * _stride, p3 = w + r3 * _stride;
        byte* next = p3 + _stride; // the next 4 rows, prefetched at the pace these 4 are read
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        nint c = 0;
        for (; c <= cols - 16; c += 16)
        {
            nint o = c * TRow.ElementSize;
            for (int line = 0; line < TRow.ElementSize; line++) Sse.Prefetch1(next + 4 * o + 64 * line);
            Vector512<float> w0 = TRow.Load16(p0 + o), w1 = TRow.Load16(p1 + o), w2 = TRow.Load16(p2 + o), w3 = TRow.Load16(p3 + o);
            Vector512<float> xv = Vector512.Load(x0 + c);
            a00 = Avx512F.FusedMultiplyAdd(w0, xv, a00); a10 = Avx512F.FusedMultiplyAdd(w1, xv, a10); a20 = Avx512F.FusedMultiplyAdd(w2, xv, a20); a30 = Avx512F.FusedMultiplyAdd(w3, xv, a30);
            xv = Vector512.Load(x1 + c);
            a01 = Avx512F.FusedMultiplyAdd(w0, xv, a01); a11 = Avx512F.FusedMultiplyAdd(w1, xv, a11); a21 = Avx512F.FusedMultiplyAdd(w2, xv, a21); a31 = Avx512F.FusedMultiplyAdd(w3, xv, a31);
            xv = Vector512.Load(x2 + c);
            a02 = Avx512F.FusedMultiplyAdd(w0, xv, a02); a12 = Avx512F.FusedMultiplyAdd(w1, xv, a12); a22 = Avx512F.FusedMultiplyAdd(w2, xv, a22); a32 = Avx512F.FusedMultiplyAdd(w3, xv, a32);
            xv = Vector512.Load(x3 + c);
            a03 = Avx512F.FusedMultiplyAdd(w0, xv, a03); a13 = Avx512F.FusedMultiplyAdd(w1, xv, a13); a23 = Avx512F.FusedMultiplyAdd(w2, xv, a23); a33 = Avx512F.FusedMultiplyAdd(w3, xv, a33);
        }
        s0 = Sum4(a00, a01, a02, a03);
        s1 = Sum4(a10, a11, a12, a13);
        s2 = Sum4(a20, a21, a22, a23);
        s3 = Sum4(a30, a31, a32, a33);
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
        Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default;
        nint c = 0;
        for (; c <= cols - 16; c += 16)
        {
            nint o = c * TRow.ElementSize;
            for (int line = 0; line < TRow.ElementSize / 2; line++) Sse.Prefetch1(next + 2 * o + 64 * line);
            Vector512<float> w0 = TRow.Load16(p0 + o), w1 = TRow.Load16(p1 + o);
            Vector512<float> xa = Vector512.Load(x0 + c), xb = Vector512.Load(x1 + c);
            a00 = Avx512F.FusedMultiplyAdd(w0, xa, a00);
            a01 = Avx512F.FusedMultiplyAdd(w0, xb, a01);
            a10 = Avx512F.FusedMultiplyAdd(w1, xa, a10);
            a11 = Avx512F.FusedMultiplyAdd(w1, xb, a11);
        }
        Vector128<float> s = Sum4(a00, a01, a10, a11);
        return c == cols ? s : s + DenseTails<TRow>.Tile2x2(p0, p1, x0, x1, c, cols);
    }
}
