using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using CtcDrafter.Model;

namespace CtcDrafter.Kernels;

/// <summary>
/// W [rows, cols] in GGUF's Q4_0 blocks of 32 weights of a row: W[r, c] = d[r, b] * (q[r, c] - 8) with q in 0..15,
/// b = c / 32 and d an fp16 scale (exact in fp32), stored in row groups (<see cref="RowGroups"/>); each row's block
/// keeps Q4_0's 16 bytes, byte i holding q of column i (low nibble) and column 16 + i (high nibble). `--dtype q4`
/// quantizes float weights as Q4_0 does. Products run on quantized activations (<see cref="RowGroupMatMul"/>).
/// </summary>
internal sealed unsafe class Q4Matrix : RowGroupMatrix<Q4Matrix.Blocks>
{
    Q4Matrix(int rows, int cols) : base(rows, cols) { }

    static (int Rows, int Cols) Shape32(in RawTensor src, string format)
    {
        (int rows, int cols) = Shape2(src);
        if (cols % BlockSize != 0)
            throw new ArgumentException($"Tensor '{src.Name}' has {cols} columns, not a multiple of {BlockSize}: it cannot be stored as {format}.", nameof(src));
        return (rows, cols);
    }

    /// <summary>Quantizes a 2-D float tensor as GGUF's reference Q4_0 does (<see cref="GgmlBlocks.QuantizeQ4_0"/>).</summary>
    public static Q4Matrix Quantize(in RawTensor src)
    {
        (int rows, int cols) = Shape32(src, "Q4");
        var m = new Q4Matrix(rows, cols);
        float[] row = new float[cols];
        Span<byte> block = stackalloc byte[GgmlBlocks.Q4_0Bytes];
        for (int r = 0; r < rows; r++)
        {
            Conversions.ReadF32(src, (long)r * cols, row);
            for (int b = 0; b < m.BlocksPerRow; b++)
            {
                GgmlBlocks.QuantizeQ4_0(row.AsSpan(b * BlockSize, BlockSize), block);
                m.SetBlock(r, b, (float)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(block)), block[2..]);
            }
        }
        return m;
    }

    /// <summary>A GGUF Q4_0 tensor: blocks of 18 bytes, an fp16 scale d then 16 bytes of nibbles.</summary>
    public static Q4Matrix FromQ4_0(in RawTensor src)
    {
        (int rows, int cols) = Shape32(src, "Q4_0");
        var m = new Q4Matrix(rows, cols);
        for (int r = 0; r < rows; r++)
            for (int b = 0; b < m.BlocksPerRow; b++)
            {
                byte* block = src.Data + ((long)r * m.BlocksPerRow + b) * GgmlBlocks.Q4_0Bytes;
                m.SetBlock(r, b, Conversions.F16ToF32(*(ushort*)block), new ReadOnlySpan<byte>(block + 2, 16));
            }
        return m;
    }

    public override WeightFormat Format => WeightFormat.Q4;

    public override void ReadRow(int r, Span<float> dst)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)r, (uint)Rows, nameof(r));
        ArgumentOutOfRangeException.ThrowIfLessThan(dst.Length, Cols, nameof(dst));
        for (int b = 0; b < BlocksPerRow; b++)
        {
            float d = Scale(r, b);
            for (int i = 0; i < 16; i++)
            {
                byte q = Byte(r, b, i);
                dst[b * BlockSize + i] = d * ((q & 0x0F) - 8);
                dst[b * BlockSize + 16 + i] = d * ((q >> 4) - 8);
            }
        }
    }

    /// <summary>
    /// Unsigned nibbles: sum (q - 8) x = sum q x - 8 sum x, the first by <c>vpmaddubsw</c> (q unsigned, x signed; a
    /// pair is at most 2 * 15 * 127 = 3810, so the eight of a block add up in int16 without overflow) or
    /// <c>vpdpbusd</c>, the second from the token's block sum.
    /// </summary>
    internal readonly struct Blocks : IRowGroupBlocks
    {
        const int Words = 4;

        public static int BlockBytes => Words * 4 * RowGroups.Rows;

        public static int WordBytes => 4;

        public static int Sum(byte* block, int i, in TokenRecord x, nint b)
        {
            sbyte* q = x.Q + b * BlockSize;
            int sum = 0;
            for (int k = 0; k < Words; k++)
                for (int j = 0; j < 4; j++)
                {
                    byte v = block[(k * RowGroups.Rows + i) * 4 + j];
                    sum += (v & 0x0F) * q[4 * k + j] + (v >> 4) * q[16 + 4 * k + j];
                }
            return sum - 8 * x.Sums[b];
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<byte> Low(Vector512<byte> v) => v & Vector512.Create((byte)0x0F);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<byte> High(Vector512<byte> v) => Vector512.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & Vector512.Create((byte)0x0F);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<short> Dot(Vector512<byte> u, sbyte* x4) => Avx512BW.MultiplyAddAdjacent(u, Vector512.Create(*(int*)x4).AsSByte());

        /// <summary>The int16 pair sums of all 8 words, widened to int32 and less 8 sum(x).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<int> Finish(Vector512<short> pairs, int qSum) =>
            Avx512BW.MultiplyAddAdjacent(pairs, Vector512.Create((short)1)) - Vector512.Create(8 * qSum);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> Sums16(byte* block, in TokenRecord x, nint b)
        {
            sbyte* q = x.Q + b * BlockSize;
            Vector512<short> acc = default;
            for (nint k = 0; k < Words; k++)
            {
                Vector512<byte> v = Vector512.Load(block + 64 * k);
                acc += Dot(Low(v), q + 4 * k) + Dot(High(v), q + 16 + 4 * k);
            }
            return Finish(acc, x.Sums[b]);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Sums16x4(byte* block, in TokenTile t, nint b, out Vector512<int> s0, out Vector512<int> s1, out Vector512<int> s2, out Vector512<int> s3)
        {
            nint o = b * BlockSize;
            sbyte* q0 = t.T0.Q + o, q1 = t.T1.Q + o, q2 = t.T2.Q + o, q3 = t.T3.Q + o;
            Vector512<short> a0 = default, a1 = default, a2 = default, a3 = default;
            for (nint k = 0; k < Words; k++)
            {
                Vector512<byte> v = Vector512.Load(block + 64 * k), lo = Low(v), hi = High(v);
                nint c = 4 * k;
                a0 += Dot(lo, q0 + c) + Dot(hi, q0 + 16 + c);
                a1 += Dot(lo, q1 + c) + Dot(hi, q1 + 16 + c);
                a2 += Dot(lo, q2 + c) + Dot(hi, q2 + 16 + c);
                a3 += Dot(lo, q3 + c) + Dot(hi, q3 + 16 + c);
            }
            s0 = Finish(a0, t.T0.Sums[b]);
            s1 = Finish(a1, t.T1.Sums[b]);
            s2 = Finish(a2, t.T2.Sums[b]);
            s3 = Finish(a3, t.T3.Sums[b]);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Sums16x8(byte* block, in TokenTile t, nint b, out Sums8Tokens s)
        {
            nint o = b * BlockSize;
            sbyte* q0 = t.T0.Q + o, q1 = t.T1.Q + o, q2 = t.T2.Q + o, q3 = t.T3.Q + o;
            sbyte* q4 = t.T4.Q + o, q5 = t.T5.Q + o, q6 = t.T6.Q + o, q7 = t.T7.Q + o;
            Vector512<short> a0, a1, a2, a3, a4, a5, a6, a7; // from the first word's products: 8 additions of zero fewer per block
            {
                Vector512<byte> v = Vector512.Load(block), lo = Low(v), hi = High(v);
                a0 = Dot(lo, q0) + Dot(hi, q0 + 16);
                a1 = Dot(lo, q1) + Dot(hi, q1 + 16);
                a2 = Dot(lo, q2) + Dot(hi, q2 + 16);
                a3 = Dot(lo, q3) + Dot(hi, q3 + 16);
                a4 = Dot(lo, q4) + Dot(hi, q4 + 16);
                a5 = Dot(lo, q5) + Dot(hi, q5 + 16);
                a6 = Dot(lo, q6) + Dot(hi, q6 + 16);
                a7 = Dot(lo, q7) + Dot(hi, q7 + 16);
            }
            for (nint k = 1; k < Words; k++)
            {
                Vector512<byte> v = Vector512.Load(block + 64 * k), lo = Low(v), hi = High(v);
                nint c = 4 * k;
                a0 += Dot(lo, q0 + c) + Dot(hi, q0 + 16 + c);
                a1 += Dot(lo, q1 + c) + Dot(hi, q1 + 16 + c);
                a2 += Dot(lo, q2 + c) + Dot(hi, q2 + 16 + c);
                a3 += Dot(lo, q3 + c) + Dot(hi, q3 + 16 + c);
                a4 += Dot(lo, q4 + c) + Dot(hi, q4 + 16 + c);
                a5 += Dot(lo, q5 + c) + Dot(hi, q5 + 16 + c);
                a6 += Dot(lo, q6 + c) + Dot(hi, q6 + 16 + c);
                a7 += Dot(lo, q7 + c) + Dot(hi, q7 + 16 + c);
            }
            s = new Sums8Tokens
            {
                S0 = Finish(a0, t.T0.Sums[b]), S1 = Finish(a1, t.T1.Sums[b]), S2 = Finish(a2, t.T2.Sums[b]), S3 = Finish(a3, t.T3.Sums[b]),
                S4 = Finish(a4, t.T4.Sums[b]), S5 = Finish(a5, t.T5.Sums[b]), S6 = Finish(a6, t.T6.Sums[b]), S7 = Finish(a7, t.T7.Sums[b]),
            };
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector256<byte> Low(Vector256<byte> v) => v & Vector256.Create((byte)0x0F);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector256<byte> High(Vector256<byte> v) => Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & Vector256.Create((byte)0x0F);

        /// <summary>acc + the sums of the low and high nibbles of one word of 8 rows with their 4 values each.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector256<int> Dot(Vector256<int> acc, Vector256<byte> lo, Vector256<byte> hi, sbyte* x4)
        {
            Vector256<sbyte> xl = Vector256.Create(*(int*)x4).AsSByte(), xh = Vector256.Create(*(int*)(x4 + 16)).AsSByte();
            if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(acc, lo, xl), hi, xh);
            Vector256<short> pairs = Avx2.MultiplyAddAdjacent(lo, xl) + Avx2.MultiplyAddAdjacent(hi, xh);
            return acc + Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Sums8(byte* block, int h, in TokenRecord x, nint b)
        {
            sbyte* q = x.Q + b * BlockSize;
            Vector256<int> acc = default;
            for (nint k = 0; k < Words; k++)
            {
                Vector256<byte> v = Vector256.Load(block + 64 * k + 32 * h);
                acc = Dot(acc, Low(v), High(v), q + 4 * k);
            }
            return acc - Vector256.Create(8 * x.Sums[b]);
        }
    }
}
