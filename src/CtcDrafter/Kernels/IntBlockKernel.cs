using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CtcDrafter.Kernels;

/// <summary>
/// A quantized weight format seen by <see cref="IntBlockKernel{TBlocks}"/> and <see cref="IntBlockKernel512{TBlocks}"/>:
/// per row and block of 32 weights, 32 bytes for <c>vpmaddubsw</c> (unsigned values, or signed ones whose signs the
/// kernels move onto the token's int8 values), a scale per lane group, and optionally a min term per block.
/// </summary>
internal unsafe interface IIntBlocks
{
    int Rows { get; }
    int Cols { get; }
    /// <summary>Where row r's weights, scales and mins start, found once per row and tile.</summary>
    IntRow Row(int r);
    /// <summary>Prefetches what <paramref name="rows"/> rows from <paramref name="next"/> on hold for block b,
    /// <paramref name="rows"/> blocks at a time, so that the rows after a tile's arrive while it works.</summary>
    void Prefetch(in IntRow next, nint b, int rows);
    /// <summary>Whether the weight bytes are signed (-128..127) rather than unsigned (0..15).</summary>
    bool HasSigns { get; }
    /// <summary>The 32 weights of block b of a row as bytes.</summary>
    Vector256<sbyte> Load(in IntRow row, nint b);
    /// <summary>Blocks b and b + 1 of a row, 64 bytes.</summary>
    Vector512<sbyte> Load2(in IntRow row, nint b);
    /// <summary>The scale of each of the 8 int32 lane sums of block b of a row, times the token's block scale dx.</summary>
    Vector256<float> Scales(in IntRow row, nint b, float dx);
    /// <summary>The scale of each of the 16 int32 lane sums of blocks b and b + 1 of a row.</summary>
    Vector512<float> Scales2(in IntRow row, nint b);
    /// <summary>Whether weights carry a min term: w = scale * q - min, so that the dot loses min * dx * sum(q_x).</summary>
    bool HasMins { get; }
    /// <summary>The min terms of blocks b..b+7 of a row (zero past the last block).</summary>
    Vector256<float> Mins(in IntRow row, nint b);
}

/// <summary>The start of one row's arrays in a quantized format (what each pointer holds is the format's).</summary>
internal readonly unsafe struct IntRow(byte* weights, float* scales, float* mins)
{
    public readonly byte* Weights = weights;
    public readonly float* Scales = scales;
    public readonly float* Mins = mins;
}

/// <summary>
/// The register tiles of <see cref="TiledMatMul"/> for quantized weights against quantized activations
/// (<see cref="QuantizedActivations"/>): per block, 32 int8 x int8 products summed exactly in int32 lanes
/// (<c>vpmaddubsw</c> then <c>vpmaddwd</c>), converted to fp32 and multiplied into the lane accumulators with the
/// block's scales, blocks in order; then the min terms, 8 blocks per vector; the lanes are added at the end. Every
/// (row, token) sum is computed by this same per-lane code in every tile, and a token's activations are quantized
/// alone, so row t of a T-token product is bitwise the same token's one-token product.
/// </summary>
internal readonly unsafe struct IntBlockKernel<TBlocks>(TBlocks w) : IRowKernel where TBlocks : struct, IIntBlocks
{
    readonly int _blocks = w.Cols / QuantizedActivations.BlockSize;
    readonly int _blocks8 = QuantizedActivations.Blocks8(w.Cols);
    readonly int _blocks2 = QuantizedActivations.Blocks2(w.Cols);

    public int Rows => w.Rows;
    public int Cols => w.Cols;
    public int Stride => QuantizedActivations.Stride(w.Cols);

    float* Dx(float* x) => QuantizedActivations.Dx(x);
    float* DxSum(float* x) => QuantizedActivations.DxSum(x, _blocks8);
    sbyte* Q(float* x) => QuantizedActivations.Q(x, _blocks8, _blocks2);

    /// <summary>The exact int32 lane sums of one block (lane k: bytes 4k..4k+3), as fp32: one <c>vpdpbusd</c> with
    /// AVX-VNNI, else <c>vpmaddubsw</c> then <c>vpmaddwd</c>. Both are exact here, since no pair of products
    /// reaches the int16 limit (|u| &lt;= 128 and |s| &lt;= 127), so the sums are the same on either path.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Dot(Vector256<byte> u, Vector256<sbyte> s) => Avx.ConvertToVector256Single(AvxVnni.IsSupported
        ? AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, u, s)
        : Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256.Create((short)1)));

    /// <summary>The unsigned operand of a loaded block: its magnitudes when signed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<byte> Unsigned(in TBlocks w, Vector256<sbyte> block) => w.HasSigns ? Avx2.Abs(block) : block.AsByte();

    /// <summary>acc + the lane sums of a loaded block with a token's block, times their scales.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Block(in TBlocks w, Vector256<sbyte> block, Vector256<byte> u, in IntRow row, nint b, Vector256<sbyte> qx, float dx, Vector256<float> acc) =>
        Fma.MultiplyAdd(Dot(u, w.HasSigns ? Avx2.Sign(qx, block) : qx), w.Scales(row, b, dx), acc);

    /// <summary>acc minus the min terms of a row against a token record, 8 blocks per vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> MinTerms(in TBlocks w, in IntRow row, float* dxSum, int blocks8, Vector256<float> acc)
    {
        if (!w.HasMins) return acc;
        for (nint b = 0; b < blocks8; b += 8) acc = Fma.MultiplyAddNegated(w.Mins(row, b), Vector256.Load(dxSum + b), acc);
        return acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    Vector256<float> MinTerms(in IntRow row, float* x, Vector256<float> acc) => MinTerms(w, row, DxSum(x), _blocks8, acc);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public Vector128<float> Rows4(int r0, int r1, int r2, int r3, float* x)
    {
        TBlocks f = w;
        float* dx = Dx(x);
        sbyte* q = Q(x);
        IntRow p0 = f.Row(r0), p1 = f.Row(r1), p2 = f.Row(r2), p3 = f.Row(r3), next = f.Row(Math.Min(r3 + 1, f.Rows - 1));
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (nint b = 0, n = _blocks; b < n; b++)
        {
            f.Prefetch(next, b, 4);
            Vector256<sbyte> qx = Vector256.Load(q + b * QuantizedActivations.BlockSize);
            float d = dx[b];
            Vector256<sbyte> w0 = f.Load(p0, b), w1 = f.Load(p1, b), w2 = f.Load(p2, b), w3 = f.Load(p3, b);
            a0 = Block(f, w0, Unsigned(f, w0), p0, b, qx, d, a0);
            a1 = Block(f, w1, Unsigned(f, w1), p1, b, qx, d, a1);
            a2 = Block(f, w2, Unsigned(f, w2), p2, b, qx, d, a2);
            a3 = Block(f, w3, Unsigned(f, w3), p3, b, qx, d, a3);
        }
        return TiledMatMul.Sum4(MinTerms(p0, x, a0), MinTerms(p1, x, a1), MinTerms(p2, x, a2), MinTerms(p3, x, a3));
    }

    /// <summary>Two 2x4 tiles: the integer kernels hold no more sums in registers.</summary>
    public void Tile4x4(int r0, int r1, int r2, int r3, float* x0, float* x1, float* x2, float* x3,
        out Vector128<float> s0, out Vector128<float> s1, out Vector128<float> s2, out Vector128<float> s3)
    {
        Tile2x4(r0, r1, x0, x1, x2, x3, out s0, out s1);
        Tile2x4(r2, r3, x0, x1, x2, x3, out s2, out s3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Tile2x4(int r0, int r1, float* x0, float* x1, float* x2, float* x3, out Vector128<float> s0, out Vector128<float> s1)
    {
        TBlocks f = w;
        float* d0 = Dx(x0), d1 = Dx(x1), d2 = Dx(x2), d3 = Dx(x3);
        sbyte* q0 = Q(x0), q1 = Q(x1), q2 = Q(x2), q3 = Q(x3);
        IntRow p0 = f.Row(r0), p1 = f.Row(r1), next = f.Row(Math.Min(r1 + 1, f.Rows - 1));
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        for (nint b = 0, n = _blocks; b < n; b++)
        {
            f.Prefetch(next, b, 2);
            nint c = b * QuantizedActivations.BlockSize;
            Vector256<sbyte> w0 = f.Load(p0, b), w1 = f.Load(p1, b);
            Vector256<byte> u0 = Unsigned(f, w0), u1 = Unsigned(f, w1);
            Vector256<sbyte> qx = Vector256.Load(q0 + c);
            a00 = Block(f, w0, u0, p0, b, qx, d0[b], a00);
            a10 = Block(f, w1, u1, p1, b, qx, d0[b], a10);
            qx = Vector256.Load(q1 + c);
            a01 = Block(f, w0, u0, p0, b, qx, d1[b], a01);
            a11 = Block(f, w1, u1, p1, b, qx, d1[b], a11);
            qx = Vector256.Load(q2 + c);
            a02 = Block(f, w0, u0, p0, b, qx, d2[b], a02);
            a12 = Block(f, w1, u1, p1, b, qx, d2[b], a12);
            qx = Vector256.Load(q3 + c);
            a03 = Block(f, w0, u0, p0, b, qx, d3[b], a03);
            a13 = Block(f, w1, u1, p1, b, qx, d3[b], a13);
        }
        s0 = TiledMatMul.Sum4(MinTerms(p0, x0, a00), MinTerms(p0, x1, a01), MinTerms(p0, x2, a02), MinTerms(p0, x3, a03));
        s1 = TiledMatMul.Sum4(MinTerms(p1, x0, a10), MinTerms(p1, x1, a11), MinTerms(p1, x2, a12), MinTerms(p1, x3, a13));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public Vector128<float> Tile2x2(int r0, int r1, float* x0, float* x1)
    {
        TBlocks f = w;
        float* d0 = Dx(x0), d1 = Dx(x1);
        sbyte* q0 = Q(x0), q1 = Q(x1);
        IntRow p0 = f.Row(r0), p1 = f.Row(r1), next = f.Row(Math.Min(r1 + 1, f.Rows - 1));
        Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default;
        for (nint b = 0, n = _blocks; b < n; b++)
        {
            f.Prefetch(next, b, 2);
            nint c = b * QuantizedActivations.BlockSize;
            Vector256<sbyte> qa = Vector256.Load(q0 + c), qb = Vector256.Load(q1 + c);
            Vector256<sbyte> w0 = f.Load(p0, b), w1 = f.Load(p1, b);
            Vector256<byte> u0 = Unsigned(f, w0), u1 = Unsigned(f, w1);
            a00 = Block(f, w0, u0, p0, b, qa, d0[b], a00);
            a01 = Block(f, w0, u0, p0, b, qb, d1[b], a01);
            a10 = Block(f, w1, u1, p1, b, qa, d0[b], a10);
            a11 = Block(f, w1, u1, p1, b, qb, d1[b], a11);
        }
        return TiledMatMul.Sum4(MinTerms(p0, x0, a00), MinTerms(p0, x1, a01), MinTerms(p1, x0, a10), MinTerms(p1, x1, a11));
    }
}
