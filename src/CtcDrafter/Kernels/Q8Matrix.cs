using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using CtcDrafter.Model;

namespace CtcDrafter.Kernels;

/// <summary>
/// W [rows, cols] as int8 with one fp32 scale per block of 32 consecutive weights of a row: W[r, c] = q[r, c] * scale[r, c / 32],
/// scale = max|block| / 127, q = round(w / scale), stored in row groups (<see cref="RowGroups"/>) as unsigned bytes
/// u = q + 128. Products run on quantized activations (<see cref="RowGroupMatMul"/>), as llama.cpp's Q8_0 x Q8_0
/// dot products do.
/// </summary>
internal sealed unsafe class Q8Matrix : RowGroupMatrix<Q8Matrix.Blocks>
{
    Q8Matrix(int rows, int cols) : base(rows, cols) { }

    /// <summary>Quantizes a 2-D tensor of any dtype; its column count must be a multiple of 32.</summary>
    public static Q8Matrix Quantize(in RawTensor src)
    {
        (int rows, int cols) = Shape2(src);
        if (cols % BlockSize != 0)
            throw new ArgumentException(
                $"Tensor '{src.Name}' has {cols} columns, not a multiple of {BlockSize}: it cannot be stored as Q8.", nameof(src));
        var m = new Q8Matrix(rows, cols);
        float[] row = new float[cols];
        Span<byte> q = stackalloc byte[BlockSize];
        for (int r = 0; r < rows; r++)
        {
            Conversions.ReadF32(src, (long)r * cols, row);
            for (int b = 0; b < m.BlocksPerRow; b++)
                m.SetBiased(r, b, QuantizeBlock(row.AsSpan(b * BlockSize, BlockSize), q), q);
        }
        return m;
    }

    /// <summary>A GGUF Q8_0 tensor in this layout, without loss: Q8_0's blocks are 32 int8 weights of a row with an
    /// fp16 scale, which widens to fp32 exactly, so every weight (scale x q) is the file's own.</summary>
    public static Q8Matrix FromQ8_0(in RawTensor src)
    {
        (int rows, int cols) = Shape2(src);
        var m = new Q8Matrix(rows, cols);
        for (int r = 0; r < rows; r++)
            for (int b = 0; b < m.BlocksPerRow; b++)
            {
                byte* block = src.Data + ((long)r * m.BlocksPerRow + b) * GgmlBlocks.Q8_0Bytes;
                m.SetBiased(r, b, Conversions.F16ToF32(*(ushort*)block), new ReadOnlySpan<byte>(block + 2, BlockSize));
            }
        return m;
    }

    /// <summary>q [32] = round(w / scale) for scale = max|w| / 127; returns the scale.</summary>
    static float QuantizeBlock(ReadOnlySpan<float> w, Span<byte> q)
    {
        float max = 0;
        foreach (float v in w) max = MathF.Max(max, MathF.Abs(v));
        float scale = max / 127f;
        for (int i = 0; i < BlockSize; i++)
            q[i] = (byte)(scale == 0 ? (sbyte)0 : (sbyte)Math.Clamp(MathF.Round(w[i] / scale), -127f, 127f));
        return scale;
    }

    /// <summary>Stores block b of row r from its int8 weights q [32] (as bytes).</summary>
    void SetBiased(int r, int b, float scale, ReadOnlySpan<byte> q)
    {
        Span<byte> u = stackalloc byte[BlockSize];
        for (int i = 0; i < BlockSize; i++) u[i] = (byte)(q[i] ^ 0x80); // (sbyte)q + 128
        SetBlock(r, b, scale, u);
    }

    public override WeightFormat Format => WeightFormat.Q8;

    /// <summary>The quantized weight q[r, c].</summary>
    public sbyte Quant(int r, int c) =>
        (sbyte)(Byte(r, c / BlockSize, c % BlockSize / 4, c % 4) ^ 0x80);

    public override void ReadRow(int r, Span<float> dst)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)r, (uint)Rows, nameof(r));
        ArgumentOutOfRangeException.ThrowIfLessThan(dst.Length, Cols, nameof(dst));
        for (int c = 0; c < Cols; c++) dst[c] = Quant(r, c) * Scale(r, c / BlockSize);
    }

    /// <summary>
    /// Biased bytes u = q + 128 in 0..255: sum q x = sum u x - 128 sum x. vpmaddubsw's int16 pairs would overflow on
    /// u x, so u splits into nibbles, u = 16 h + l, and sum u x = 16 sum h x + sum l x, each nibble's pairs at most
    /// 2 * 15 * 127 = 3810, so the 8 words of a block add up in int16; with AVX-VNNI, <c>vpdpbusd</c> takes u whole.
    /// </summary>
    internal readonly struct Blocks : IRowGroupBlocks
    {
        const int Words = BlockSize / 4;

        public static int BlockBytes => BlockSize * RowGroups.Rows;

        public static int Sum(byte* block, int i, sbyte* q, int qSum)
        {
            int sum = 0;
            for (int k = 0; k < Words; k++)
                for (int j = 0; j < 4; j++) sum += block[(k * RowGroups.Rows + i) * 4 + j] * q[4 * k + j];
            return sum - 128 * qSum;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<byte> Low(Vector512<byte> v) => v & Vector512.Create((byte)0x0F);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<byte> High(Vector512<byte> v) => Vector512.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & Vector512.Create((byte)0x0F);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<short> Dot(Vector512<byte> u, sbyte* x4) => Avx512BW.MultiplyAddAdjacent(u, Vector512.Create(*(int*)x4).AsSByte());

        /// <summary>16 sum(h x) + sum(l x) - 128 sum(x) from the int16 pair sums of the high and low nibbles.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<int> Finish(Vector512<short> high, Vector512<short> low, int qSum) =>
            Avx512BW.MultiplyAddAdjacent(high, Vector512.Create((short)16)) + Avx512BW.MultiplyAddAdjacent(low, Vector512.Create((short)1))
            - Vector512.Create(128 * qSum);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> Sums16(byte* block, sbyte* q, int qSum)
        {
            Vector512<short> high = default, low = default;
            for (nint k = 0; k < Words; k++)
            {
                Vector512<byte> v = Vector512.Load(block + 64 * k);
                high += Dot(High(v), q + 4 * k);
                low += Dot(Low(v), q + 4 * k);
            }
            return Finish(high, low, qSum);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Sums16x4(byte* block, in TokenTile t, nint b, out Vector512<int> s0, out Vector512<int> s1, out Vector512<int> s2, out Vector512<int> s3)
        {
            sbyte* q0 = t.T0.Block(b), q1 = t.T1.Block(b), q2 = t.T2.Block(b), q3 = t.T3.Block(b);
            Vector512<short> h0 = default, h1 = default, h2 = default, h3 = default;
            Vector512<short> l0 = default, l1 = default, l2 = default, l3 = default;
            for (nint k = 0; k < Words; k++)
            {
                Vector512<byte> v = Vector512.Load(block + 64 * k), hi = High(v), lo = Low(v);
                nint c = 4 * k;
                h0 += Dot(hi, q0 + c);
                l0 += Dot(lo, q0 + c);
                h1 += Dot(hi, q1 + c);
                l1 += Dot(lo, q1 + c);
                h2 += Dot(hi, q2 + c);
                l2 += Dot(lo, q2 + c);
                h3 += Dot(hi, q3 + c);
                l3 += Dot(lo, q3 + c);
            }
            s0 = Finish(h0, l0, t.T0.Sums[b]);
            s1 = Finish(h1, l1, t.T1.Sums[b]);
            s2 = Finish(h2, l2, t.T2.Sums[b]);
            s3 = Finish(h3, l3, t.T3.Sums[b]);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector256<short> Dot(Vector256<byte> u, sbyte* x4) => Avx2.MultiplyAddAdjacent(u, Vector256.Create(*(int*)x4).AsSByte());

        /// <summary>The sums of one block of 8 rows (32 bytes per word at <paramref name="words"/>) with one token, before
        /// the bias: vpdpbusd on u with AVX-VNNI, else the nibbles' int16 pair sums widened.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector256<int> Unbiased(byte* words, sbyte* q)
        {
            if (AvxVnni.IsSupported)
            {
                Vector256<int> acc = default;
                for (nint k = 0; k < Words; k++)
                    acc = AvxVnni.MultiplyWideningAndAdd(acc, Vector256.Load(words + 64 * k), Vector256.Create(*(int*)(q + 4 * k)).AsSByte());
                return acc;
            }
            Vector256<short> high = default, low = default;
            for (nint k = 0; k < Words; k++)
            {
                Vector256<byte> v = Vector256.Load(words + 64 * k);
                high += Dot(Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & Vector256.Create((byte)0x0F), q + 4 * k);
                low += Dot(v & Vector256.Create((byte)0x0F), q + 4 * k);
            }
            return Avx2.MultiplyAddAdjacent(high, Vector256.Create((short)16)) + Avx2.MultiplyAddAdjacent(low, Vector256.Create((short)1));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Sums8(byte* block, int h, sbyte* q, int qSum) =>
            Unbiased(block + 32 * h, q) - Vector256.Create(128 * qSum);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Sums8x4(byte* block, int h, in TokenTile t, nint b, out Vector256<int> s0, out Vector256<int> s1, out Vector256<int> s2, out Vector256<int> s3)
        {
            // AVX2 has 16 registers: one token at a time keeps the nibbles' accumulators in them.
            s0 = Sums8(block, h, t.T0.Block(b), t.T0.Sums[b]);
            s1 = Sums8(block, h, t.T1.Block(b), t.T1.Sums[b]);
            s2 = Sums8(block, h, t.T2.Block(b), t.T2.Sums[b]);
            s3 = Sums8(block, h, t.T3.Block(b), t.T3.Sums[b]);
        }
    }
}
