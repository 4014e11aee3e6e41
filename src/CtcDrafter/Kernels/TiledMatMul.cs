using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CtcDrafter.Kernels;

/// <summary>The register tiles of one weight format over W [Rows, Cols]; every sum is a dot product of a row with a token.</summary>
internal unsafe interface IRowKernel
{
    int Rows { get; }
    int Cols { get; }
    /// <summary>Floats from one token's x to the next: Cols, or the record size of quantized activations.</summary>
    int Stride { get; }
    /// <summary>[W[r0]·x, W[r1]·x, W[r2]·x, W[r3]·x]</summary>
    Vector128<float> Rows4(int r0, int r1, int r2, int r3, float* x);
    /// <summary>s0 = [W[r0]·x0, W[r0]·x1, W[r0]·x2, W[r0]·x3], s1 the same for W[r1].</summary>
    void Tile2x4(int r0, int r1, float* x0, float* x1, float* x2, float* x3, out Vector128<float> s0, out Vector128<float> s1);
    /// <summary>[W[r0]·x0, W[r0]·x1, W[r1]·x0, W[r1]·x1]</summary>
    Vector128<float> Tile2x2(int r0, int r1, float* x0, float* x1);
    /// <summary>s0..s3 = [W[ri]·x0, W[ri]·x1, W[ri]·x2, W[ri]·x3] for rows r0..r3 (a format without its own may run two 2x4 tiles).</summary>
    void Tile4x4(int r0, int r1, int r2, int r3, float* x0, float* x1, float* x2, float* x3,
        out Vector128<float> s0, out Vector128<float> s1, out Vector128<float> s2, out Vector128<float> s3);
}

/// <summary>
/// Weight-stationary y [tokens, Rows] = x [tokens, Cols] W^T: threads split the rows, and each weight row is read
/// from memory once per block of tokens (the block of x stays in L2). One token: groups of 4 rows (a memory-bound
/// matvec); 8 tokens or more: tiles of 4 rows x 4 tokens where the register file holds them (AVX-512's 32 vector
/// registers: 16 sums, 4 weight vectors, one token vector), else 2 rows x 4 tokens, the last 1-3 tokens by a 2x2
/// tile or a 2x4 tile with a repeated token, on the same rows right after their full tiles (so that no token count
/// reads a row from memory twice). Partial tiles repeat a row or token in the unused lanes and store only
/// the valid sums.
/// </summary>
/// <remarks>
/// The loops are compiled fully optimized from the first call (AggressiveOptimization): tier-0 SIMD code is several
/// times slower. Each kernel prefetches the rows after its own while it works, the matvec into L1 (T0), the tiles
/// into L2 (T1); docs/ENGINE.md has the measurements behind both choices. Every (row, token) sum is computed by the
/// same per-lane code whichever tile computes it, so row t of a T-token product is bitwise the one-token product.
/// </remarks>
internal static unsafe class TiledMatMul
{
    /// <summary>Below this many multiply-adds a matmul runs on the calling thread alone.</summary>
    public const long ParallelThreshold = 1 << 17;

    /// <summary>Bytes of x kept hot per block of tokens.</summary>
    const int TokenBlockBytes = 256 * 1024;

    /// <summary>Whether 4-row tiles fit the vector registers (they give the same sums as 2-row tiles, faster).</summary>
    static readonly bool FourRows = Avx512F.VL.IsSupported;

    /// <summary>Fewest tokens for 4-row tiles: below it the product is bound by reading the weights, which 2-row tiles prefetch better.</summary>
    const int FourRowTokens = 8;

    public static void MatMul<TKernel>(in TKernel kernel, float* x, float* y, int tokens) where TKernel : struct, IRowKernel
    {
        var job = new Job<TKernel> { Kernel = kernel, X = x, Y = y, Tokens = tokens };
        int rows = kernel.Rows;
        if ((long)rows * kernel.Cols * tokens < ParallelThreshold) job.Run(0, rows);
        else WorkerPool.Shared.For(rows, tokens == 1 ? 4 : 2, ref job);
    }

    /// <summary>
    /// y_i = x W_i^T for two or three matrices of one input (k2 with no rows when there are two): the threads split
    /// the rows of all of them, and each row computes what it computes in its own matrix's product.
    /// </summary>
    public static void MatMul<TKernel>(float* x, int tokens, in TKernel k0, float* y0, in TKernel k1, float* y1, in TKernel k2, float* y2)
        where TKernel : struct, IRowKernel
    {
        var job = new ChunkParts<Job<TKernel>>(
            new() { Kernel = k0, X = x, Y = y0, Tokens = tokens },
            new() { Kernel = k1, X = x, Y = y1, Tokens = tokens },
            new() { Kernel = k2, X = x, Y = y2, Tokens = tokens });
        if ((long)job.Units * k0.Cols * tokens < ParallelThreshold) job.Run(0, job.Units);
        else WorkerPool.Shared.For(job.Units, tokens == 1 ? 4 : 2, ref job);
    }

    struct Job<TKernel> : IChunkPart where TKernel : struct, IRowKernel
    {
        public TKernel Kernel;
        public float* X, Y;
        public int Tokens;

        public readonly int Units => Kernel.Rows;

        public readonly void Run(int start, int end)
        {
            if (Tokens == 1) MatVec(Kernel, X, Y, start, end);
            else Tiled(Kernel, X, Y, Tokens, start, end);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void MatVec<TKernel>(in TKernel k, float* x, float* y, int r0, int r1) where TKernel : struct, IRowKernel
    {
        for (int r = r0; r < r1; r += 4)
        {
            int n = Math.Min(4, r1 - r);
            Vector128<float> s = k.Rows4(r, n > 1 ? r + 1 : r, n > 2 ? r + 2 : r, n > 3 ? r + 3 : r, x);
            if (n == 4) s.Store(y + r);
            else for (int i = 0; i < n; i++) y[r + i] = s.GetElement(i);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tiled<TKernel>(in TKernel k, float* x, float* y, int tokens, int r0, int r1) where TKernel : struct, IRowKernel
    {
        int cols = k.Stride;
        int block = Math.Max(4, TokenBlockBytes / (cols * sizeof(float)) / 4 * 4);
        for (int tb = 0; tb < tokens; tb += block)
        {
            int te = Math.Min(tokens, tb + block);
            int r = r0;
            if (FourRows && tokens >= FourRowTokens)
                for (; r + 4 <= r1; r += 4)
                {
                    int t = tb;
                    for (; t + 4 <= te; t += 4)
                    {
                        float* xt = x + (nint)t * cols;
                        k.Tile4x4(r, r + 1, r + 2, r + 3, xt, xt + cols, xt + 2 * cols, xt + 3 * cols, out var s0, out var s1, out var s2, out var s3);
                        StoreColumn(y, k.Rows, r, t, s0, 4);
                        StoreColumn(y, k.Rows, r + 1, t, s1, 4);
                        StoreColumn(y, k.Rows, r + 2, t, s2, 4);
                        StoreColumn(y, k.Rows, r + 3, t, s3, 4);
                    }
                    // The last 1-3 tokens while these rows are in cache.
                    RowPair(k, x, y, r, r + 1, t, te);
                    RowPair(k, x, y, r + 2, r + 3, t, te);
                }
            for (; r < r1; r += 2) RowPair(k, x, y, r, Math.Min(r + 1, r1 - 1), tb, te);
        }
    }

    // Rows r and rb (rb == r: one row) against tokens [t, te): 2x4 tiles, then the last 1-3 tokens by a 2x4 tile
    // with a repeated token or a 2x2 tile.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void RowPair<TKernel>(in TKernel k, float* x, float* y, int r, int rb, int t, int te) where TKernel : struct, IRowKernel
    {
        int rows = k.Rows, cols = k.Stride;
        bool pair = rb != r;
        for (; t + 4 <= te; t += 4)
        {
            float* xt = x + (nint)t * cols;
            k.Tile2x4(r, rb, xt, xt + cols, xt + 2 * cols, xt + 3 * cols, out var s0, out var s1);
            StoreColumn(y, rows, r, t, s0, 4);
            if (pair) StoreColumn(y, rows, rb, t, s1, 4);
        }
        int left = te - t;
        if (left == 0) return;
        float* xl = x + (nint)t * cols;
        if (left == 3)
        {
            k.Tile2x4(r, rb, xl, xl + cols, xl + 2 * cols, xl + 2 * cols, out var s0, out var s1);
            StoreColumn(y, rows, r, t, s0, 3);
            if (pair) StoreColumn(y, rows, rb, t, s1, 3);
        }
        else
        {
            Vector128<float> s = k.Tile2x2(r, rb, xl, left == 2 ? xl + cols : xl);
            StoreColumn(y, rows, r, t, s, left);
            if (pair) StoreColumn(y, rows, rb, t, Vector128.Create(s[2], s[3], 0, 0), left);
        }
    }

    // y[t + i, r] = s[i] for i < n; y is [tokens, rows].
    static void StoreColumn(float* y, int rows, int r, int t, Vector128<float> s, int n)
    {
        float* p = y + (nint)t * rows + r;
        for (int i = 0; i < n; i++) p[(nint)i * rows] = s.GetElement(i);
    }

    /// <summary>[sum(a), sum(b), sum(c), sum(d)]</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d)
    {
        Vector256<float> h = Avx.HorizontalAdd(Avx.HorizontalAdd(a, b), Avx.HorizontalAdd(c, d));
        return h.GetLower() + h.GetUpper();
    }
}
