using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using CtcDrafter.Model;

namespace CtcDrafter.Kernels;

/// <summary>
/// W [rows, cols] as int8 with one fp32 scale per block of 32 consecutive weights of a row: W[r, c] = q[r, c] * scale[r, c / 32],
/// scale = max|block| / 127, q = round(w / scale), stored in row groups (<see cref="RowGroups"/>). Products run on
/// quantized activations (<see cref="RowGroupMatMul"/>), as llama.cpp's Q8_0 x Q8_0 dot products do.
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
                m.SetBlock(r, b, QuantizeBlock(row.AsSpan(b * BlockSize, BlockSize), q), q);
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
                m.SetBlock(r, b, Conversions.F16ToF32(*(ushort*)block), new ReadOnlySpan<byte>(block + 2, BlockSize));
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

    public override WeightFormat Format => WeightFormat.Q8;

    /// <summary>The quantized weight q[r, c].</summary>
    public sbyte Quant(int r, int c) =>
        (sbyte)Byte(r, c / BlockSize, c % BlockSize);

    public override void ReadRow(int r, Span<float> dst)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)r, (uint)Rows, nameof(r));
        ArgumentOutOfRangeException.ThrowIfLessThan(dst.Length, Cols, nameof(dst));
        for (int c = 0; c < Cols; c++) dst[c] = Quant(r, c) * Scale(r, c / BlockSize);
    }

    /// <summary>
    /// Words of 2 int8 weights: a 32-byte load of 16 rows' word k widens (<c>vpmovsxbw</c>) to int16 pairs that
    /// <c>vpmaddwd</c> multiplies by the token's int16 values 2k, 2k + 1 and adds in int32 lanes, one per row, exactly
    /// (|w| &lt;= 128, |x| &lt;= 127); <c>vpdpwssd</c> with AVX-VNNI.
    /// </summary>
    internal readonly struct Blocks : IRowGroupBlocks
    {
        const int Words = BlockSize / 2;

        public static int BlockBytes => BlockSize * RowGroups.Rows;

        public static int WordBytes => 2;

        public static int Sum(byte* block, int i, in TokenRecord x, nint b)
        {
            short* q = x.Q16 + b * BlockSize;
            int sum = 0;
            for (int k = 0; k < Words; k++)
                for (int j = 0; j < 2; j++) sum += (sbyte)block[(k * RowGroups.Rows + i) * 2 + j] * q[2 * k + j];
            return sum;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<short> Word(byte* block, nint k) => Avx512BW.ConvertToVector512Int16(Vector256.Load((sbyte*)block + 32 * k));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<int> Dot(Vector512<short> w, short* x2) => Avx512BW.MultiplyAddAdjacent(w, Vector512.Create(*(int*)x2).AsInt16());

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> Sums16(byte* block, in TokenRecord x, nint b)
        {
            short* q = x.Q16 + b * BlockSize;
            Vector512<int> acc = default;
            for (nint k = 0; k < Words; k++) acc += Dot(Word(block, k), q + 2 * k);
            return acc;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Sums16x4(byte* block, in TokenTile t, nint b, out Vector512<int> s0, out Vector512<int> s1, out Vector512<int> s2, out Vector512<int> s3)
        {
            nint c = b * BlockSize;
            short* q0 = t.T0.Q16 + c, q1 = t.T1.Q16 + c, q2 = t.T2.Q16 + c, q3 = t.T3.Q16 + c;
            s0 = s1 = s2 = s3 = default;
            for (nint k = 0; k < Words; k++)
            {
                Vector512<short> w = Word(block, k);
                s0 += Dot(w, q0 + 2 * k);
                s1 += Dot(w, q1 + 2 * k);
                s2 += Dot(w, q2 + 2 * k);
                s3 += Dot(w, q3 + 2 * k);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Sums16x8(byte* block, in TokenTile t, nint b, out Sums8Tokens s)
        {
            nint c = b * BlockSize;
            short* q0 = t.T0.Q16 + c, q1 = t.T1.Q16 + c, q2 = t.T2.Q16 + c, q3 = t.T3.Q16 + c;
            short* q4 = t.T4.Q16 + c, q5 = t.T5.Q16 + c, q6 = t.T6.Q16 + c, q7 = t.T7.Q16 + c;
            Vector512<int> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
            for (nint k = 0; k < Words; k++)
            {
                Vector512<short> w = Word(block, k);
                nint o = 2 * k;
                s0 += Dot(w, q0 + o);
                s1 += Dot(w, q1 + o);
                s2 += Dot(w, q2 + o);
                s3 += Dot(w, q3 + o);
                s4 += Dot(w, q4 + o);
                s5 += Dot(w, q5 + o);
                s6 += Dot(w, q6 + o);
                s7 += Dot(w, q7 + o);
            }
            s = new Sums8Tokens { S0 = s0, S1 = s1, S2 = s2, S3 = s3, S4 = s4, S5 = s5, S6 = s6, S7 = s7 };
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Sums8(byte* block, int h, in TokenRecord x, nint b)
        {
            short* q = x.Q16 + b * BlockSize;
            Vector256<int> acc = default;
            for (nint k = 0; k < Words; k++)
            {
                Vector256<short> w = Avx2.ConvertToVector256Int16(Vector128.Load((sbyte*)block + 32 * k + 16 * h));
                Vector256<short> v = Vector256.Create(*(int*)(q + 2 * k)).AsInt16();
                acc = AvxVnni.IsSupported ? AvxVnni.MultiplyWideningAndAdd(acc, w, v) : acc + Avx2.MultiplyAddAdjacent(w, v);
            }
            return acc;
        }
    }
}
