using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CtcDrafter.Kernels;

/// <summary>
/// Blocks of 32 weights stored in row groups (<see cref="RowGroups"/>), as <see cref="RowGroupMatMul"/> sees them:
/// the exact integer dot product of one block of 16 (or 8) rows with a token's 32 int8 activations, for one token
/// or four, on each instruction set. Every method returns the same integers: only the float epilogue rounds, and it
/// is the driver's, the same for every path.
/// </summary>
internal unsafe interface IRowGroupBlocks
{
    /// <summary>Bytes of one block of a group: 16 rows x 32 weights.</summary>
    static abstract int BlockBytes { get; }

    /// <summary>Bytes per word of the layout (<see cref="RowGroups"/>).</summary>
    static abstract int WordBytes { get; }

    /// <summary>sum_c w[i, c] * x[c] for row i of the block, c &lt; 32: the reference, and the portable path.</summary>
    static abstract int Sum(byte* block, int i, in TokenRecord x, nint b);

    /// <summary>The 16 rows' sums with one token (AVX-512).</summary>
    static abstract Vector512<int> Sums16(byte* block, in TokenRecord x, nint b);

    /// <summary>The 16 rows' sums with tokens T0..T3 of a tile (AVX-512).</summary>
    static abstract void Sums16x4(byte* block, in TokenTile t, nint b, out Vector512<int> s0, out Vector512<int> s1, out Vector512<int> s2, out Vector512<int> s3);

    /// <summary>The 16 rows' sums with the 8 tokens of a tile (AVX-512).</summary>
    static abstract void Sums16x8(byte* block, in TokenTile t, nint b, out Sums8Tokens s);

    /// <summary>The sums of rows 8h..8h+7 with one token (AVX2, with AVX-VNNI where present).</summary>
    static abstract Vector256<int> Sums8(byte* block, int h, in TokenRecord x, nint b);
}

/// <summary>The 16 rows' int32 sums of a block with each of 8 tokens.</summary>
internal struct Sums8Tokens
{
    public Vector512<int> S0, S1, S2, S3, S4, S5, S6, S7;
}

/// <summary>Up to 8 tokens' quantized activations (<see cref="QuantizedActivations"/>); a tile of fewer tokens repeats its last one.</summary>
internal readonly unsafe struct TokenTile(ReadOnlySpan<TokenRecord> r)
{
    public readonly TokenRecord T0 = r[0], T1 = r[1], T2 = r[2], T3 = r[3], T4 = r[4], T5 = r[5], T6 = r[6], T7 = r[7];
}

/// <summary>One token's quantized activations: q [blocks * 32] as int8 and as int16, sum(q) [blocks] and dx [blocks].</summary>
internal readonly unsafe struct TokenRecord(sbyte* q, short* q16, int* sums, float* dx)
{
    public readonly sbyte* Q = q;
    public readonly short* Q16 = q16;
    public readonly int* Sums = sums;
    public readonly float* Dx = dx;
}

/// <summary>One matrix of a <see cref="RowGroupMatMul"/> call: its groups' weights and scales, its rows and its output y [tokens, Rows].</summary>
internal readonly unsafe struct RowGroupProduct(byte* weights, float* scales, int rows, float* y)
{
    public readonly byte* Weights = weights;
    public readonly float* Scales = scales;
    public readonly int Rows = rows;
    public readonly float* Y = y;
}

/// <summary>The instruction sets of <see cref="RowGroupMatMul"/>; all give bitwise the same products.</summary>
internal enum RowGroupIsa
{
    /// <summary>Scalar integers and <see cref="MathF.FusedMultiplyAdd"/>: the reference.</summary>
    Portable,
    /// <summary>8 rows per vector, <c>vpmaddubsw</c>/<c>vpmaddwd</c>, or <c>vpdpbusd</c> with AVX-VNNI.</summary>
    Avx2,
    /// <summary>16 rows per vector, <c>vpmaddubsw</c>/<c>vpmaddwd</c>.</summary>
    Avx512,
}

/// <summary>
/// y [tokens, rows] = x [tokens, cols] W^T for weights in row groups, on activations quantized per token and block
/// of 32. Vector lanes are rows: per block, the exact integer sums of 16 rows with a token (32 products each) are
/// converted to float and multiply-added into the token's accumulator with scale[r, b] * dx[t, b], blocks in order:
/// acc[r, t] = fma(float(isum[r, t, b]), scale[r, b] * dx[t, b], acc[r, t]). That is the whole float arithmetic of a
/// sum, one rounding per block, the same whatever the tile, the number of tokens or the instruction set, so row t of
/// a T-token product is bitwise the one-token product, and every machine computes the same logits.
/// </summary>
/// <remarks>
/// Threads split the groups (of every matrix of a call); each group's weights (16 rows) are read once per block of tokens whose records stay in
/// L2 and are used by tiles of four tokens (three or two repeat one) or, for one token, by a matvec. No horizontal
/// sums: the lanes of the accumulators are the outputs.
/// </remarks>
internal static unsafe class RowGroupMatMul
{
    /// <summary>The widest instruction set of this machine.</summary>
    public static readonly RowGroupIsa Best = Avx512F.IsSupported && Avx512BW.IsSupported ? RowGroupIsa.Avx512
        : Avx2.IsSupported && Fma.IsSupported ? RowGroupIsa.Avx2
        : RowGroupIsa.Portable;

    /// <summary>Bytes of token records kept hot per block of tokens.</summary>
    const int TokenBlockBytes = 256 * 1024;

    /// <summary>
    /// y [tokens, rows] from the quantized records [tokens, QuantizedActivations.Stride(cols)] of x, for one matrix or
    /// for two or three of the same columns and input (a product with no rows is absent): the threads split the groups
    /// of all of them, and each group computes what it computes alone.
    /// </summary>
    public static void MatMul<TBlocks>(int cols, float* records, int tokens, RowGroupIsa isa, RowGroupProduct p0, RowGroupProduct p1 = default, RowGroupProduct p2 = default)
        where TBlocks : IRowGroupBlocks
    {
        var job = new ChunkParts<Job<TBlocks>>(new(p0, cols, records, tokens, isa), new(p1, cols, records, tokens, isa), new(p2, cols, records, tokens, isa));
        if ((long)(p0.Rows + p1.Rows + p2.Rows) * cols * tokens < TiledMatMul.ParallelThreshold) job.Run(0, job.Units);
        else WorkerPool.Shared.For(job.Units, 1, ref job);
    }

    readonly struct Job<TBlocks>(RowGroupProduct p, int cols, float* records, int tokens, RowGroupIsa isa) : IChunkPart where TBlocks : IRowGroupBlocks
    {
        readonly byte* Weights = p.Weights;
        readonly float* Scales = p.Scales, Records = records, Y = p.Y;
        readonly int Rows = p.Rows, Cols = cols, Tokens = tokens;
        readonly RowGroupIsa Isa = isa;

        public int Units => RowGroups.Count(Rows);

        public readonly void Run(int g0, int g1)
        {
            int blocks = Cols / RowGroups.BlockSize, stride = QuantizedActivations.Stride(Cols);
            int tokenBlock = Math.Max(8, TokenBlockBytes / (stride * sizeof(float)) / 8 * 8);
            float* scratch = stackalloc float[8 * RowGroups.Rows];
            TokenTile* tiles = stackalloc TokenTile[(Math.Min(Tokens, tokenBlock) + 7) / 8];
            float** y = stackalloc float*[8];
            for (int tb = 0; tb < Tokens; tb += tokenBlock)
            {
                int te = Math.Min(Tokens, tb + tokenBlock);
                // Tiles of up to 8 tokens, found once for all groups; a tile of n < 8 repeats its last token.
                for (int t = tb; t < te; t += 8) tiles[(t - tb) / 8] = Tile(t, Math.Min(te - t, 8));
                for (int g = g0; g < g1; g++)
                {
                    byte* w = Weights + (nint)g * blocks * TBlocks.BlockBytes;
                    float* s = Scales + (nint)g * blocks * RowGroups.Rows;
                    int rows = Math.Min(RowGroups.Rows, Rows - g * RowGroups.Rows);
                    for (int t = tb; t < te; t += 8)
                    {
                        // A tile of 1, 4 or 8 tokens. Each token's 16 sums go to y directly when the group is full, else through scratch.
                        int n = Math.Min(te - t, 8);
                        for (int i = 0; i < 8; i++)
                            y[i] = i < n && rows == RowGroups.Rows ? Y + (nint)(t + i) * Rows + g * RowGroups.Rows : scratch + i * RowGroups.Rows;
                        ref readonly TokenTile tile = ref tiles[(t - tb) / 8];
                        switch (n)
                        {
                            case 1: Group1(w, s, blocks, tile.T0, y[0]); break;
                            case <= 4: Group4(w, s, blocks, tile, y); break;
                            default: Group8(w, s, blocks, tile, y); break;
                        }
                        if (rows < RowGroups.Rows)
                            for (int i = 0; i < n; i++)
                                new ReadOnlySpan<float>(scratch + i * RowGroups.Rows, rows).CopyTo(new Span<float>(Y + (nint)(t + i) * Rows + g * RowGroups.Rows, rows));
                    }
                }
            }
        }

        readonly TokenTile Tile(int t, int n)
        {
            Span<TokenRecord> records = stackalloc TokenRecord[8];
            for (int i = 0; i < 8; i++) records[i] = Record(t + Math.Min(i, n - 1));
            return new TokenTile(records);
        }

        readonly TokenRecord Record(int t)
        {
            float* r = Records + (nint)t * QuantizedActivations.Stride(Cols);
            int blocks8 = QuantizedActivations.Blocks8(Cols), blocks2 = QuantizedActivations.Blocks2(Cols);
            return new TokenRecord(QuantizedActivations.Q(r, blocks8, blocks2), QuantizedActivations.Q16(r, blocks8, blocks2),
                QuantizedActivations.Sums(r, blocks8), QuantizedActivations.Dx(r));
        }

        readonly void Group1(byte* w, float* s, int blocks, in TokenRecord x, float* y)
        {
            switch (Isa)
            {
                case RowGroupIsa.Avx512: Group16x1<TBlocks>(w, s, blocks, x, y); break;
                case RowGroupIsa.Avx2: Group8x1<TBlocks>(w, s, blocks, x, y); break;
                default: GroupPortable<TBlocks>(w, s, blocks, x, y); break;
            }
        }

        readonly void Group4(byte* w, float* s, int blocks, in TokenTile t, float** y)
        {
            if (Isa == RowGroupIsa.Avx512) Group16x4<TBlocks>(w, s, blocks, t, y);
            else
            {
                Group1(w, s, blocks, t.T0, y[0]);
                Group1(w, s, blocks, t.T1, y[1]);
                Group1(w, s, blocks, t.T2, y[2]);
                Group1(w, s, blocks, t.T3, y[3]);
            }
        }

        readonly void Group8(byte* w, float* s, int blocks, in TokenTile t, float** y)
        {
            if (Isa == RowGroupIsa.Avx512) Group16x8<TBlocks>(w, s, blocks, t, y);
            else
            {
                Group4(w, s, blocks, t, y);
                Group4(w, s, blocks, new TokenTile([t.T4, t.T5, t.T6, t.T7, t.T7, t.T7, t.T7, t.T7]), y + 4);
            }
        }
    }

    /// <summary>The reference: y[i] = the block sums of row i, multiply-added in block order.</summary>
    static void GroupPortable<TBlocks>(byte* w, float* s, int blocks, in TokenRecord x, float* y) where TBlocks : IRowGroupBlocks
    {
        for (int i = 0; i < RowGroups.Rows; i++)
        {
            float acc = 0;
            for (nint b = 0; b < blocks; b++)
                acc = MathF.FusedMultiplyAdd(TBlocks.Sum(w + b * TBlocks.BlockBytes, i, x, b), s[b * RowGroups.Rows + i] * x.Dx[b], acc);
            y[i] = acc;
        }
    }

    /// <summary>How far ahead a kernel prefetches its weights: 4 KB, 3-15 % faster than 2 KB at every T on the
    /// [5632 x 2048] shapes of AMD EPYC (Zen 5), both distances measured in one process call by call; 8 KB as 4 KB at T = 8.</summary>
    const int PrefetchBytes = 4096;

    /// <summary>Prefetches the block PrefetchBytes ahead of block b and its scales (past a group's end, the next group's first blocks: groups follow
    /// each other in memory; past the matrix's end, nothing, since prefetches do not fault).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Prefetch<TBlocks>(byte* w, float* s, nint b) where TBlocks : IRowGroupBlocks
    {
        nint ahead = PrefetchBytes / TBlocks.BlockBytes;
        byte* next = w + (b + ahead) * TBlocks.BlockBytes;
        for (int line = 0; line < TBlocks.BlockBytes; line += 64) Sse.Prefetch0(next + line);
        Sse.Prefetch0(s + (b + ahead) * RowGroups.Rows);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Group16x1<TBlocks>(byte* w, float* s, int blocks, in TokenRecord x, float* y) where TBlocks : IRowGroupBlocks
    {
        Vector512<float> acc = default;
        for (nint b = 0; b < blocks; b++)
        {
            Prefetch<TBlocks>(w, s, b);
            Vector512<int> sums = TBlocks.Sums16(w + b * TBlocks.BlockBytes, x, b);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sums), Vector512.Load(s + b * RowGroups.Rows) * x.Dx[b], acc);
        }
        acc.Store(y);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Group16x4<TBlocks>(byte* w, float* s, int blocks, in TokenTile t, float** y) where TBlocks : IRowGroupBlocks
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (nint b = 0; b < blocks; b++)
        {
            Prefetch<TBlocks>(w, s, b);
            TBlocks.Sums16x4(w + b * TBlocks.BlockBytes, t, b, out var s0, out var s1, out var s2, out var s3);
            Vector512<float> scale = Vector512.Load(s + b * RowGroups.Rows);
            a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(s0), scale * t.T0.Dx[b], a0);
            a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(s1), scale * t.T1.Dx[b], a1);
            a2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(s2), scale * t.T2.Dx[b], a2);
            a3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(s3), scale * t.T3.Dx[b], a3);
        }
        a0.Store(y[0]);
        a1.Store(y[1]);
        a2.Store(y[2]);
        a3.Store(y[3]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Group16x8<TBlocks>(byte* w, float* s, int blocks, in TokenTile t, float** y) where TBlocks : IRowGroupBlocks
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (nint b = 0; b < blocks; b++)
        {
            Prefetch<TBlocks>(w, s, b);
            TBlocks.Sums16x8(w + b * TBlocks.BlockBytes, t, b, out Sums8Tokens i);
            Vector512<float> scale = Vector512.Load(s + b * RowGroups.Rows);
            a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i.S0), scale * t.T0.Dx[b], a0);
            a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i.S1), scale * t.T1.Dx[b], a1);
            a2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i.S2), scale * t.T2.Dx[b], a2);
            a3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i.S3), scale * t.T3.Dx[b], a3);
            a4 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i.S4), scale * t.T4.Dx[b], a4);
            a5 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i.S5), scale * t.T5.Dx[b], a5);
            a6 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i.S6), scale * t.T6.Dx[b], a6);
            a7 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i.S7), scale * t.T7.Dx[b], a7);
        }
        a0.Store(y[0]);
        a1.Store(y[1]);
        a2.Store(y[2]);
        a3.Store(y[3]);
        a4.Store(y[4]);
        a5.Store(y[5]);
        a6.Store(y[6]);
        a7.Store(y[7]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Group8x1<TBlocks>(byte* w, float* s, int blocks, in TokenRecord x, float* y) where TBlocks : IRowGroupBlocks
    {
        for (int h = 0; h < 2; h++)
        {
            Vector256<float> acc = default;
            for (nint b = 0; b < blocks; b++)
            {
                Prefetch<TBlocks>(w, s, b);
                Vector256<int> sums = TBlocks.Sums8(w + b * TBlocks.BlockBytes, h, x, b);
                acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sums), Vector256.Load(s + b * RowGroups.Rows + 8 * h) * x.Dx[b], acc);
            }
            acc.Store(y + 8 * h);
        }
    }
}
