using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CtcDrafter.Kernels;

/// <summary>
/// A quantized weight format seen by <see cref="IntBlockKernel{TBlocks}"/>: per row and block of 32 weights, 32
/// bytes for <c>vpmaddubsw</c> (unsigned) against the token's int8 values (signed, adjusted to the weights' signs
/// where the weights are signed), a scale per lane group, and optionally a min term per block.
/// </summary>
internal unsafe interface IIntBlocks
{
    int Rows { get; }
    int Cols { get; }
    /// <summary>The 32 weights of block b of row r as bytes: unsigned values, or signed ones.</summary>
    Vector256<sbyte> Load(nint r, nint b);
    /// <summary>The unsigned operand made of a loaded block (its absolute values if signed).</summary>
    Vector256<byte> Unsigned(Vector256<sbyte> block);
    /// <summary>The signed operand: the token's int8 values, with the signs of a signed block moved onto them.</summary>
    Vector256<sbyte> Signed(Vector256<sbyte> qx, Vector256<sbyte> block);
    /// <summary>The scale of each of the 8 int32 lane sums of block b of row r, times the token's block scale dx.</summary>
    Vector256<float> Scales(nint r, nint b, float dx);
    /// <summary>Whether weights carry a min term: w = scale * q - min, so that the dot loses min * dx * sum(q_x).</summary>
    bool HasMins { get; }
    /// <summary>The min terms of blocks b..b+7 of row r (zero past the last block).</summary>
    Vector256<float> Mins(nint r, nint b);
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

    public int Rows => w.Rows;
    public int Cols => w.Cols;
    public int Stride => QuantizedActivations.Stride(w.Cols);

    // A token record: dx [blocks8], dx * sum(q) [blocks8], q [cols] int8.
    float* Dx(float* x) => x;
    float* DxSum(float* x) => x + _blocks8;
    sbyte* Q(float* x) => (sbyte*)(x + 2 * _blocks8);

    /// <summary>The exact int32 lane sums of one block, as fp32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Dot(Vector256<byte> u, Vector256<sbyte> s) =>
        Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256.Create((short)1)));

    /// <summary>acc + the lane sums of a loaded block with a token's block, times their scales.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    Vector256<float> Block(Vector256<sbyte> block, Vector256<byte> u, nint r, nint b, Vector256<sbyte> qx, float dx, Vector256<float> acc) =>
        Fma.MultiplyAdd(Dot(u, w.Signed(qx, block)), w.Scales(r, b, dx), acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    Vector256<float> MinTerms(nint r, float* x, Vector256<float> acc)
    {
        if (!w.HasMins) return acc;
        float* dxs = DxSum(x);
        for (nint b = 0; b < _blocks8; b += 8) acc = Fma.MultiplyAddNegated(w.Mins(r, b), Vector256.Load(dxs + b), acc);
        return acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public Vector128<float> Rows4(int r0, int r1, int r2, int r3, float* x)
    {
        float* dx = Dx(x);
        sbyte* q = Q(x);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (nint b = 0; b < _blocks; b++)
        {
            Vector256<sbyte> qx = Vector256.Load(q + b * QuantizedActivations.BlockSize);
            float d = dx[b];
            Vector256<sbyte> w0 = w.Load(r0, b), w1 = w.Load(r1, b), w2 = w.Load(r2, b), w3 = w.Load(r3, b);
            a0 = Block(w0, w.Unsigned(w0), r0, b, qx, d, a0);
            a1 = Block(w1, w.Unsigned(w1), r1, b, qx, d, a1);
            a2 = Block(w2, w.Unsigned(w2), r2, b, qx, d, a2);
            a3 = Block(w3, w.Unsigned(w3), r3, b, qx, d, a3);
        }
        return TiledMatMul.Sum4(MinTerms(r0, x, a0), MinTerms(r1, x, a1), MinTerms(r2, x, a2), MinTerms(r3, x, a3));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Tile2x4(int r0, int r1, float* x0, float* x1, float* x2, float* x3, out Vector128<float> s0, out Vector128<float> s1)
    {
        float* d0 = Dx(x0), d1 = Dx(x1), d2 = Dx(x2), d3 = Dx(x3);
        sbyte* q0 = Q(x0), q1 = Q(x1), q2 = Q(x2), q3 = Q(x3);
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        for (nint b = 0; b < _blocks; b++)
        {
            nint c = b * QuantizedActivations.BlockSize;
            Vector256<sbyte> w0 = w.Load(r0, b), w1 = w.Load(r1, b);
            Vector256<byte> u0 = w.Unsigned(w0), u1 = w.Unsigned(w1);
            Vector256<sbyte> qx = Vector256.Load(q0 + c);
            a00 = Block(w0, u0, r0, b, qx, d0[b], a00);
            a10 = Block(w1, u1, r1, b, qx, d0[b], a10);
            qx = Vector256.Load(q1 + c);
            a01 = Block(w0, u0, r0, b, qx, d1[b], a01);
            a11 = Block(w1, u1, r1, b, qx, d1[b], a11);
            qx = Vector256.Load(q2 + c);
            a02 = Block(w0, u0, r0, b, qx, d2[b], a02);
            a12 = Block(w1, u1, r1, b, qx, d2[b], a12);
            qx = Vector256.Load(q3 + c);
            a03 = Block(w0, u0, r0, b, qx, d3[b], a03);
            a13 = Block(w1, u1, r1, b, qx, d3[b], a13);
        }
        s0 = TiledMatMul.Sum4(MinTerms(r0, x0, a00), MinTerms(r0, x1, a01), MinTerms(r0, x2, a02), MinTerms(r0, x3, a03));
        s1 = TiledMatMul.Sum4(MinTerms(r1, x0, a10), MinTerms(r1, x1, a11), MinTerms(r1, x2, a12), MinTerms(r1, x3, a13));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public Vector128<float> Tile2x2(int r0, int r1, float* x0, float* x1)
    {
        float* d0 = Dx(x0), d1 = Dx(x1);
        sbyte* q0 = Q(x0), q1 = Q(x1);
        Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default;
        for (nint b = 0; b < _blocks; b++)
        {
            nint c = b * QuantizedActivations.BlockSize;
            Vector256<sbyte> qa = Vector256.Load(q0 + c), qb = Vector256.Load(q1 + c);
            Vector256<sbyte> w0 = w.Load(r0, b), w1 = w.Load(r1, b);
            Vector256<byte> u0 = w.Unsigned(w0), u1 = w.Unsigned(w1);
            a00 = Block(w0, u0, r0, b, qa, d0[b], a00);
            a01 = Block(w0, u0, r0, b, qb, d1[b], a01);
            a10 = Block(w1, u1, r1, b, qa, d0[b], a10);
            a11 = Block(w1, u1, r1, b, qb, d1[b], a11);
        }
        return TiledMatMul.Sum4(MinTerms(r0, x0, a00), MinTerms(r0, x1, a01), MinTerms(r1, x0, a10), MinTerms(r1, x1, a11));
    }
}
