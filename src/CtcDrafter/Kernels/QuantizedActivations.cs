using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace CtcDrafter.Kernels;

/// <summary>
/// Activations x [tokens, cols] quantized for the integer kernels, one record per token: per block of 32 values a
/// scale dx = max|x| / 127 and q = round(x / dx) in int8 (Q8_0's rule, ties away from zero), plus the sum of the
/// block's q as an integer (Q4_0's offset of 8 needs it) and times dx (the min term of Q4_K's weights). A token's record depends on that token alone, so a
/// T-token product quantizes every token exactly as a one-token product does.
/// </summary>
/// <remarks>
/// Record layout in floats: dx [Blocks8], dx * sum(q) [Blocks8], sum(q) as int32 [Blocks8], dx once per int32 lane [Blocks2, 8], then the
/// int8 values [Blocks2 * 32] (8 per float) and the same as int16 [Blocks2 * 32] (2 per float). Blocks8 and Blocks2 are the block count rounded up to 8 and to 2, the
/// extra blocks zero, so that kernels read 8 blocks per vector, or 2 blocks per 512-bit vector.
/// </remarks>
internal static unsafe class QuantizedActivations
{
    public const int BlockSize = 32;

    public static int Blocks8(int cols) => (cols / BlockSize + 7) / 8 * 8;

    public static int Blocks2(int cols) => (cols / BlockSize + 1) / 2 * 2;

    /// <summary>Floats per token record.</summary>
    public static int Stride(int cols) => 3 * Blocks8(cols) + Blocks2(cols) * (8 + BlockSize / 4 + BlockSize / 2);

    /// <summary>dx [Blocks8] of a record.</summary>
    public static float* Dx(float* record) => record;

    /// <summary>dx * sum(q) [Blocks8] of a record.</summary>
    public static float* DxSum(float* record, int blocks8) => record + blocks8;

    /// <summary>sum(q) [Blocks8] of a record.</summary>
    public static int* Sums(float* record, int blocks8) => (int*)(record + 2 * blocks8);

    /// <summary>dx per lane [Blocks2, 8] of a record.</summary>
    public static float* DxLanes(float* record, int blocks8) => record + 3 * blocks8;

    /// <summary>q [Blocks2 * 32] of a record.</summary>
    public static sbyte* Q(float* record, int blocks8, int blocks2) => (sbyte*)(record + 3 * blocks8 + 8 * blocks2);

    /// <summary>q as int16 [Blocks2 * 32] of a record.</summary>
    public static short* Q16(float* record, int blocks8, int blocks2) => (short*)(record + 3 * blocks8 + 16 * blocks2);

    /// <summary>Quantizes x [tokens, cols] into records [tokens, Stride(cols)] (cols a multiple of 32), the threads splitting the tokens.</summary>
    public static void Quantize(float* x, int tokens, int cols, float* records)
    {
        var job = new TokensJob(x, cols, records);
        WorkerPool.Shared.For(tokens, 1, ref job);
    }

    /// <summary>Tokens [start, end) of <see cref="Quantize(float*, int, int, float*)"/>: the threads take whole tokens (a token's record depends on it alone).</summary>
    readonly struct TokensJob(float* x, int cols, float* records) : IChunkBody
    {
        public void Run(int start, int end) => Quantize<VectorBlocks>(x + (nint)start * cols, end - start, cols, records + (nint)start * Stride(cols));
    }

    /// <summary><see cref="Quantize(float*, int, int, float*)"/> one value at a time: the reference of the vector code.</summary>
    internal static void QuantizeReference(float* x, int tokens, int cols, float* records) => Quantize<ScalarBlocks>(x, tokens, cols, records);

    static void Quantize<TBlocks>(float* x, int tokens, int cols, float* records) where TBlocks : IBlockQuantizer
    {
        int blocks = cols / BlockSize, blocks8 = Blocks8(cols), blocks2 = Blocks2(cols), stride = Stride(cols);
        for (int t = 0; t < tokens; t++)
        {
            float* xt = x + (nint)t * cols;
            float* rec = records + (nint)t * stride;
            float* dx = Dx(rec), dxs = DxSum(rec, blocks8), lanes = DxLanes(rec, blocks8);
            int* sums = Sums(rec, blocks8);
            sbyte* q = Q(rec, blocks8, blocks2);
            short* q16 = Q16(rec, blocks8, blocks2);
            // Every field is written below but the padding blocks, which are zero.
            new Span<float>(dx + blocks, blocks8 - blocks).Clear();
            new Span<float>(dxs + blocks, blocks8 - blocks).Clear();
            new Span<int>(sums + blocks, blocks8 - blocks).Clear();
            new Span<float>(lanes + 8 * blocks, 8 * (blocks2 - blocks)).Clear();
            new Span<sbyte>(q + BlockSize * blocks, BlockSize * (blocks2 - blocks)).Clear();
            new Span<short>(q16 + BlockSize * blocks, BlockSize * (blocks2 - blocks)).Clear();
            for (int b = 0; b < blocks; b++)
            {
                int sum = TBlocks.Quantize(xt + b * BlockSize, q + b * BlockSize, q16 + b * BlockSize, out float d);
                dx[b] = d;
                dxs[b] = d * sum;
                sums[b] = sum;
                Vector256.Create(d).Store(lanes + 8 * b);
            }
        }
    }

    /// <summary>One block: v [32] -> q [32] and q16 [32], its scale d; returns sum(q).</summary>
    interface IBlockQuantizer
    {
        static abstract int Quantize(float* v, sbyte* q, short* q16, out float d);
    }

    /// <summary>One value at a time: the reference.</summary>
    readonly struct ScalarBlocks : IBlockQuantizer
    {
        public static int Quantize(float* v, sbyte* q, short* q16, out float d)
        {
            float max = 0;
            for (int i = 0; i < BlockSize; i++) max = MathF.Max(max, MathF.Abs(v[i]));
            d = max / 127f;
            float inverse = d == 0 ? 0 : 1 / d;
            int sum = 0;
            for (int i = 0; i < BlockSize; i++)
            {
                int qi = (int)MathF.Round(v[i] * inverse, MidpointRounding.AwayFromZero);
                q[i] = (sbyte)qi;
                q16[i] = (short)qi;
                sum += qi;
            }
            return sum;
        }
    }

    /// <summary>The same on 8 lanes: round half away from zero as trunc(y) + 1 where y - trunc(y) &gt;= 0.5, - 1 where &lt;= -0.5 (exact).</summary>
    readonly struct VectorBlocks : IBlockQuantizer
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Quantize(float* v, sbyte* q, short* q16, out float d)
        {
            Vector256<float> v0 = Vector256.Load(v), v1 = Vector256.Load(v + 8), v2 = Vector256.Load(v + 16), v3 = Vector256.Load(v + 24);
            Vector256<float> m = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
            Vector128<float> h = Vector128.Max(m.GetLower(), m.GetUpper());
            h = Vector128.Max(h, Vector128.Shuffle(h, Vector128.Create(2, 3, 0, 1)));
            float max = MathF.Max(h.ToScalar(), h.GetElement(1)); // the largest |v|: a maximum, exact in any order
            d = max / 127f;
            float inverse = d == 0 ? 0 : 1 / d;
            Vector256<int> q0 = Round(v0 * inverse), q1 = Round(v1 * inverse), q2 = Round(v2 * inverse), q3 = Round(v3 * inverse);
            Vector256<short> low = Vector256.Narrow(q0, q1), high = Vector256.Narrow(q2, q3);
            low.Store(q16);
            high.Store(q16 + 16);
            Vector256.Narrow(low, high).Store(q);
            return Vector256.Sum(q0 + q1 + q2 + q3);
        }
    }

    static Vector256<int> Round(Vector256<float> y)
    {
        Vector256<float> t = Vector256.Truncate(y), f = y - t;
        Vector256<float> up = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(f, Vector256.Create(0.5f)), Vector256<float>.One, Vector256<float>.Zero);
        Vector256<float> down = Vector256.ConditionalSelect(Vector256.LessThanOrEqual(f, Vector256.Create(-0.5f)), Vector256<float>.One, Vector256<float>.Zero);
        return Vector256.ConvertToInt32(t + up - down);
    }

    /// <summary>A pooled buffer for the records of <paramref name="tokens"/> tokens; return it to <see cref="ArrayPool{T}.Shared"/>.</summary>
    public static float[] Rent(int tokens, int cols) => ArrayPool<float>.Shared.Rent(tokens * Stride(cols));
}
