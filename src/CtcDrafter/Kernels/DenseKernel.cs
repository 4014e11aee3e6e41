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

/// <summary>
/// Register tiles over a dense row-major W [rows, cols] in TV vectors of <see cref="IFloatLanes{TV}.Count"/> lanes
/// (column c in lane c mod Count, the lanes added at the end by <see cref="IFloatLanes{TV}.Sum4"/>); columns past the
/// last multiple of Count are summed in scalar and added last (<see cref="DenseTails{TRow}"/>). Every tile runs this
/// per-lane code, so row t of a T-token product is bitwise the one-token product; a machine runs one width for
/// every T (16 lanes where AVX-512 runs: each weight vector feeds twice the products, which the compute-bound tiles
/// of a tree verification need). Each tile prefetches the rows after its own at the pace it reads them.
/// </summary>
internal readonly unsafe struct DenseKernel<TRow, TLanes, TV>(byte* w, int rows, int cols) : IRowKernel
    where TRow : struct, IDenseRow where TLanes : struct, IFloatLanes<TV> where TV : struct
{
    readonly nint _stride = (nint)cols * TRow.ElementSize;

    public int Rows => rows;
    public int Cols => cols;
    public int Stride => cols;

    /// <summary>Prefetches the bytes n rows read in one step (TLanes.Count elements each, 1 to 4 cache lines), into L1 or L2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Prefetch(byte* p, int n, bool l1)
    {
        int lines = n * TLanes.Count * TRow.ElementSize / 64; // a constant of the instantiation: the branches fold
        Touch(p, l1);
        if (lines > 1) Touch(p + 64, l1);
        if (lines > 2) Touch(p + 128, l1);
        if (lines > 3) Touch(p + 192, l1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Touch(byte* p, bool l1)
    {
        if (l1) Sse.Prefetch0(p);
        else Sse.Prefetch1(p);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TV Row(byte* p) => TLanes.LoadRow(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TV Fma(TV a, TV b, TV c) => TLanes.MultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public Vector128<float> Rows4(int r0, int r1, int r2, int r3, float* x)
    {
        byte* p0 = w + r0 * _stride, p1 = w + r1 * _stride, p2 = w + r2 * _stride, p3 = w + r3 * _stride;
        byte* next = p3 + _stride; // the next 4 rows, prefetched at the pace these 4 are read
        TV a0 = default, a1 = default, a2 = default, a3 = default;
        nint c = 0;
        for (; c <= cols - TLanes.Count; c += TLanes.Count)
        {
            TV xv = TLanes.Load(x + c);
            nint o = c * TRow.ElementSize;
            Prefetch(next + 4 * o, 4, l1: true);
            a0 = Fma(Row(p0 + o), xv, a0);
            a1 = Fma(Row(p1 + o), xv, a1);
            a2 = Fma(Row(p2 + o), xv, a2);
            a3 = Fma(Row(p3 + o), xv, a3);
        }
        Vector128<float> s = TLanes.Sum4(a0, a1, a2, a3);
        return c == cols ? s : s + DenseTails<TRow>.Rows4(p0, p1, p2, p3, x, c, cols);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Tile2x4(int r0, int r1, float* x0, float* x1, float* x2, float* x3, out Vector128<float> s0, out Vector128<float> s1)
    {
        byte* p0 = w + r0 * _stride, p1 = w + r1 * _stride;
        byte* next = p1 + 3 * _stride; // the 2 rows after the next 2, prefetched at the pace these 2 are read
        TV a00 = default, a01 = default, a02 = default, a03 = default;
        TV a10 = default, a11 = default, a12 = default, a13 = default;
        nint c = 0;
        for (; c <= cols - TLanes.Count; c += TLanes.Count)
        {
            nint o = c * TRow.ElementSize;
            Prefetch(next + 2 * o, 2, l1: false);
            TV w0 = Row(p0 + o), w1 = Row(p1 + o);
            TV xv = TLanes.Load(x0 + c);
            a00 = Fma(w0, xv, a00);
            a10 = Fma(w1, xv, a10);
            xv = TLanes.Load(x1 + c);
            a01 = Fma(w0, xv, a01);
            a11 = Fma(w1, xv, a11);
            xv = TLanes.Load(x2 + c);
            a02 = Fma(w0, xv, a02);
            a12 = Fma(w1, xv, a12);
            xv = TLanes.Load(x3 + c);
            a03 = Fma(w0, xv, a03);
            a13 = Fma(w1, xv, a13);
        }
        s0 = TLanes.Sum4(a00, a01, a02, a03);
        s1 = TLanes.Sum4(a10, a11, a12, a13);
        if (c == cols) return;
        DenseTails<TRow>.Tile2x4(p0, p1, x0, x1, x2, x3, c, cols, ref s0, ref s1);
    }

    /// <summary>16 sums in registers (of AVX-512's 32, where <see cref="TiledMatMul"/> uses it), 4 weight vectors and a
    /// token vector: each (row, token) sum runs the same per-lane code as in <see cref="Tile2x4"/> and <see cref="Rows4"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Tile4x4(int r0, int r1, int r2, int r3, float* x0, float* x1, float* x2, float* x3,
        out Vector128<float> s0, out Vector128<float> s1, out Vector128<float> s2, out Vector128<float> s3)
    {
        byte* p0 = w + r0 * _stride, p1 = w + r1 * _stride, p2 = w + r2 * _stride, p3 = w + r3 * _stride;
        byte* next = p3 + _stride; // the next 4 rows, prefetched at the pace these 4 are read
        TV a00 = default, a01 = default, a02 = default, a03 = default;
        TV a10 = default, a11 = default, a12 = default, a13 = default;
        TV a20 = default, a21 = default, a22 = default, a23 = default;
        TV a30 = default, a31 = default, a32 = default, a33 = default;
        nint c = 0;
        for (; c <= cols - TLanes.Count; c += TLanes.Count)
        {
            nint o = c * TRow.ElementSize;
            Prefetch(next + 4 * o, 4, l1: false);
            TV w0 = Row(p0 + o), w1 = Row(p1 + o), w2 = Row(p2 + o), w3 = Row(p3 + o);
            TV xv = TLanes.Load(x0 + c);
            a00 = Fma(w0, xv, a00); a10 = Fma(w1, xv, a10); a20 = Fma(w2, xv, a20); a30 = Fma(w3, xv, a30);
            xv = TLanes.Load(x1 + c);
            a01 = Fma(w0, xv, a01); a11 = Fma(w1, xv, a11); a21 = Fma(w2, xv, a21); a31 = Fma(w3, xv, a31);
            xv = TLanes.Load(x2 + c);
            a02 = Fma(w0, xv, a02); a12 = Fma(w1, xv, a12); a22 = Fma(w2, xv, a22); a32 = Fma(w3, xv, a32);
            xv = TLanes.Load(x3 + c);
            a03 = Fma(w0, xv, a03); a13 = Fma(w1, xv, a13); a23 = Fma(w2, xv, a23); a33 = Fma(w3, xv, a33);
        }
        s0 = TLanes.Sum4(a00, a01, a02, a03);
        s1 = TLanes.Sum4(a10, a11, a12, a13);
        s2 = TLanes.Sum4(a20, a21, a22, a23);
        s3 = TLanes.Sum4(a30, a31, a32, a33);
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
        TV a00 = default, a01 = default, a10 = default, a11 = default;
        nint c = 0;
        for (; c <= cols - TLanes.Count; c += TLanes.Count)
        {
            nint o = c * TRow.ElementSize;
            Prefetch(next + 2 * o, 2, l1: false);
            TV w0 = Row(p0 + o), w1 = Row(p1 + o);
            TV xa = TLanes.Load(x0 + c), xb = TLanes.Load(x1 + c);
            a00 = Fma(w0, xa, a00);
            a01 = Fma(w0, xb, a01);
            a10 = Fma(w1, xa, a10);
            a11 = Fma(w1, xb, a11);
        }
        Vector128<float> s = TLanes.Sum4(a00, a01, a10, a11);
        return c == cols ? s : s + DenseTails<TRow>.Tile2x2(p0, p1, x0, x1, c, cols);
    }
}
