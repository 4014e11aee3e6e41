using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CtcDrafter.Kernels;

/// <summary>What <see cref="IntBlockKernel512{TBlocks}"/> needs of the machine and of its formats.</summary>
internal static unsafe class IntBlockKernel512
{
    /// <summary>Whether AVX-512 (F and BW) runs here; matrices with an odd number of blocks per row keep
    /// <see cref="IntBlockKernel{TBlocks}"/> even then.</summary>
    public static readonly bool Supported = Avx512F.IsSupported && Avx512BW.IsSupported;

    /// <summary>[s[0] x 8, s[1] x 8]: the scales of two blocks of one scale each, per int32 lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> PerBlock(float* s) => Vector512.Create(Vector256.Create(s[0]), Vector256.Create(s[1]));
}

/// <summary>
/// <see cref="IntBlockKernel{TBlocks}"/> on 512-bit vectors: two blocks per step, their int32 lane sums (lanes 0-7
/// the first block, 8-15 the second; <c>vpmaddubsw</c> then <c>vpmaddwd</c>, exact) converted to fp32 and
/// multiplied into 16-lane accumulators with the row's scales times the token's dx per lane. At the end the two
/// halves are added, then the min terms and the lanes as in the 256-bit kernel. On a machine where it runs it is
/// the only kernel of a matrix (with an even block count), so every T computes each sum in the same order.
/// </summary>
internal readonly unsafe struct IntBlockKernel512<TBlocks>(TBlocks w) : IRowKernel where TBlocks : struct, IIntBlocks
{
    readonly int _blocks = w.Cols / QuantizedActivations.BlockSize;
    readonly int _blocks8 = QuantizedActivations.Blocks8(w.Cols);
    readonly int _blocks2 = QuantizedActivations.Blocks2(w.Cols);

    public int Rows => w.Rows;
    public int Cols => w.Cols;
    public int Stride => QuantizedActivations.Stride(w.Cols);

    sbyte* Q(float* x) => QuantizedActivations.Q(x, _blocks8, _blocks2);
    float* DxLanes(float* x) => QuantizedActivations.DxLanes(x, _blocks8);

    /// <summary>Blocks b and b + 1 of a row made ready for every token: the unsigned operand, the sign mask of a
    /// signed format (all ones where the weight is negative) and the lane scales.</summary>
    readonly struct RowPair
    {
        public readonly Vector512<byte> U;
        public readonly Vector512<sbyte> Negative;
        public readonly Vector512<float> Scales;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public RowPair(in TBlocks w, in IntRow row, nint b)
        {
            Vector512<sbyte> v = w.Load2(row, b);
            if (w.HasSigns)
            {
                U = Avx512BW.Abs(v);
                Negative = Vector512.LessThan(v, Vector512<sbyte>.Zero);
            }
            else
            {
                U = v.AsByte();
                Negative = default;
            }
            Scales = w.Scales2(row, b);
        }
    }

    /// <summary>acc + the lane sums of a row pair with a token's two blocks q, times the row's scales and the
    /// token's dx per lane. A signed format's signs move onto q: (q ^ n) - n negates where n is all ones.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Step(in TBlocks w, in RowPair p, sbyte* q, float* dxLanes, Vector512<float> acc)
    {
        Vector512<sbyte> qx = Vector512.Load(q);
        if (w.HasSigns) qx = (qx ^ p.Negative) - p.Negative;
        Vector512<int> sums = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(p.U, qx), Vector512.Create((short)1));
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sums), p.Scales * Vector512.Load(dxLanes), acc);
    }

    /// <summary>The accumulator's halves added, then the row's min terms against the token.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    Vector256<float> Finish(in IntRow row, float* x, Vector512<float> acc) =>
        IntBlockKernel<TBlocks>.MinTerms(w, row, QuantizedActivations.DxSum(x, _blocks8), _blocks8, acc.GetLower() + acc.GetUpper());

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public Vector128<float> Rows4(int r0, int r1, int r2, int r3, float* x)
    {
        TBlocks f = w;
        sbyte* q = Q(x);
        float* dl = DxLanes(x);
        IntRow p0 = f.Row(r0), p1 = f.Row(r1), p2 = f.Row(r2), p3 = f.Row(r3), next = f.Row(Math.Min(r3 + 1, f.Rows - 1));
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (nint b = 0, n = _blocks; b < n; b += 2)
        {
            f.Prefetch(next, b, 4);
            f.Prefetch(next, b + 1, 4);
            sbyte* qb = q + b * QuantizedActivations.BlockSize;
            float* db = dl + 8 * b;
            a0 = Step(f, new RowPair(f, p0, b), qb, db, a0);
            a1 = Step(f, new RowPair(f, p1, b), qb, db, a1);
            a2 = Step(f, new RowPair(f, p2, b), qb, db, a2);
            a3 = Step(f, new RowPair(f, p3, b), qb, db, a3);
        }
        return TiledMatMul.Sum4(Finish(p0, x, a0), Finish(p1, x, a1), Finish(p2, x, a2), Finish(p3, x, a3));
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
        sbyte* q0 = Q(x0), q1 = Q(x1), q2 = Q(x2), q3 = Q(x3);
        float* d0 = DxLanes(x0), d1 = DxLanes(x1), d2 = DxLanes(x2), d3 = DxLanes(x3);
        IntRow p0 = f.Row(r0), p1 = f.Row(r1), next = f.Row(Math.Min(r1 + 1, f.Rows - 1));
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        for (nint b = 0, n = _blocks; b < n; b += 2)
        {
            f.Prefetch(next, b, 2);
            f.Prefetch(next, b + 1, 2);
            nint c = b * QuantizedActivations.BlockSize, l = 8 * b;
            var w0 = new RowPair(f, p0, b);
            var w1 = new RowPair(f, p1, b);
            a00 = Step(f, w0, q0 + c, d0 + l, a00);
            a10 = Step(f, w1, q0 + c, d0 + l, a10);
            a01 = Step(f, w0, q1 + c, d1 + l, a01);
            a11 = Step(f, w1, q1 + c, d1 + l, a11);
            a02 = Step(f, w0, q2 + c, d2 + l, a02);
            a12 = Step(f, w1, q2 + c, d2 + l, a12);
            a03 = Step(f, w0, q3 + c, d3 + l, a03);
            a13 = Step(f, w1, q3 + c, d3 + l, a13);
        }
        s0 = TiledMatMul.Sum4(Finish(p0, x0, a00), Finish(p0, x1, a01), Finish(p0, x2, a02), Finish(p0, x3, a03));
        s1 = TiledMatMul.Sum4(Finish(p1, x0, a10), Finish(p1, x1, a11), Finish(p1, x2, a12), Finish(p1, x3, a13));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public Vector128<float> Tile2x2(int r0, int r1, float* x0, float* x1)
    {
        TBlocks f = w;
        sbyte* q0 = Q(x0), q1 = Q(x1);
        float* d0 = DxLanes(x0), d1 = DxLanes(x1);
        IntRow p0 = f.Row(r0), p1 = f.Row(r1), next = f.Row(Math.Min(r1 + 1, f.Rows - 1));
        Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default;
        for (nint b = 0, n = _blocks; b < n; b += 2)
        {
            f.Prefetch(next, b, 2);
            f.Prefetch(next, b + 1, 2);
            nint c = b * QuantizedActivations.BlockSize, l = 8 * b;
            var w0 = new RowPair(f, p0, b);
            var w1 = new RowPair(f, p1, b);
            a00 = Step(f, w0, q0 + c, d0 + l, a00);
            a01 = Step(f, w0, q1 + c, d1 + l, a01);
            a10 = Step(f, w1, q0 + c, d0 + l, a10);
            a11 = Step(f, w1, q1 + c, d1 + l, a11);
        }
        return TiledMatMul.Sum4(Finish(p0, x0, a00), Finish(p0, x1, a01), Finish(p1, x0, a10), Finish(p1, x1, a11));
    }
}
