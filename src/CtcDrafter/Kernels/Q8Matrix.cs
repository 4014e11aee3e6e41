using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using CtcDrafter.Model;

namespace CtcDrafter.Kernels;

/// <summary>
/// W [rows, cols] as int8 with one fp32 scale per block of 32 consecutive weights of a row: W[r, c] = q[r, c] * scale[r, c / 32],
/// scale = max|block| / 127, q = round(w / scale).
/// </summary>
internal sealed unsafe class Q8Matrix : WeightMatrix
{
    public const int BlockSize = 32;

    sbyte* _q;       // [rows, cols]
    float* _scales;  // [rows, cols / 32]
    readonly NativeBuffer _owned;

    Q8Matrix(int rows, int cols, NativeBuffer owned, long scalesOffset) : base(rows, cols)
    {
        _owned = owned;
        _q = (sbyte*)owned.Pointer;
        _scales = (float*)(owned.Pointer + scalesOffset);
    }

    /// <summary>Quantizes a 2-D tensor of any dtype; its column count must be a multiple of 32.</summary>
    public static Q8Matrix Quantize(in RawTensor src)
    {
        (int rows, int cols) = Shape2(src);
        if (cols % BlockSize != 0)
            throw new ArgumentException(
                $"Tensor '{src.Name}' has {cols} columns, not a multiple of {BlockSize}: it cannot be stored as Q8.", nameof(src));
        long scalesOffset = NativeBuffer.AlignUp((long)rows * cols);
        var owned = new NativeBuffer(scalesOffset + (long)rows * (cols / BlockSize) * sizeof(float));
        var m = new Q8Matrix(rows, cols, owned, scalesOffset);
        float[] row = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            Conversions.ReadF32(src, (long)r * cols, row);
            QuantizeRow(row, m._q + (nint)r * cols, m._scales + (nint)r * (cols / BlockSize));
        }
        return m;
    }

    /// <summary>A GGUF Q8_0 tensor in this layout, without loss: Q8_0's blocks are 32 int8 weights of a row with an
    /// fp16 scale, which widens to fp32 exactly, so every weight (scale x q) is the file's own.</summary>
    public static Q8Matrix FromQ8_0(in RawTensor src)
    {
        (int rows, int cols) = Shape2(src);
        long scalesOffset = NativeBuffer.AlignUp((long)rows * cols);
        var owned = new NativeBuffer(scalesOffset + (long)rows * (cols / BlockSize) * sizeof(float));
        var m = new Q8Matrix(rows, cols, owned, scalesOffset);
        long blocks = (long)rows * (cols / BlockSize);
        for (long b = 0; b < blocks; b++)
        {
            byte* block = src.Data + b * 34;
            m._scales[b] = Conversions.F16ToF32(*(ushort*)block);
            new ReadOnlySpan<sbyte>(block + 2, BlockSize).CopyTo(new Span<sbyte>(m._q + b * BlockSize, BlockSize));
        }
        return m;
    }

    // q [cols], scales [cols / 32]
    static void QuantizeRow(ReadOnlySpan<float> w, sbyte* q, float* scales)
    {
        for (int b = 0; b < w.Length / BlockSize; b++)
        {
            ReadOnlySpan<float> block = w.Slice(b * BlockSize, BlockSize);
            float max = 0;
            foreach (float v in block) max = MathF.Max(max, MathF.Abs(v));
            float scale = max / 127f;
            scales[b] = scale;
            for (int i = 0; i < BlockSize; i++)
                q[b * BlockSize + i] = scale == 0 ? (sbyte)0 : (sbyte)Math.Clamp(MathF.Round(block[i] / scale), -127f, 127f);
        }
    }

    public override WeightFormat Format => WeightFormat.Q8;

    public override long Bytes => (long)Rows * Cols + (long)Rows * (Cols / BlockSize) * sizeof(float);

    public override void MatMul(ReadOnlySpan<float> x, Span<float> y, int tokens) =>
        MatMulTiled(new Kernel(_q, _scales, Rows, Cols), x, y, tokens);

    float Weight(int r, int c) => _q[(nint)r * Cols + c] * _scales[(nint)r * (Cols / BlockSize) + c / BlockSize];

    /// <summary>The scale of block b of row r.</summary>
    public float Scale(int r, int b) => _scales[(nint)r * (Cols / BlockSize) + b];

    /// <summary>The quantized weight q[r, c].</summary>
    public sbyte Quant(int r, int c) => _q[(nint)r * Cols + c];

    public override void ReadRow(int r, Span<float> dst)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)r, (uint)Rows, nameof(r));
        ArgumentOutOfRangeException.ThrowIfLessThan(dst.Length, Cols, nameof(dst));
        for (int c = 0; c < Cols; c++) dst[c] = Weight(r, c);
    }

    public override void Dispose()
    {
        _owned.Dispose();
        _q = null;
        _scales = null;
    }

    /// <summary>
    /// Every sum, whatever the tile, is computed as the one-token matvec computes it: each group of 8 int8 weights
    /// is widened to fp32 and multiplied by its block's scale, and that vector is multiplied into the lane
    /// accumulators with the token's 8 values, column groups in order; the lanes are added at the end. So row t of
    /// a T-token product is bitwise the same token's one-token product. The tiles widen and scale a group once and
    /// use it for 4 (or 2) tokens.
    /// </summary>
    readonly struct Kernel(sbyte* q, float* scales, int rows, int cols) : IRowKernel
    {
        readonly int _blocks = cols / BlockSize;

        public int Rows => rows;
        public int Cols => cols;
        public int Stride => cols;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector256<float> Widen(sbyte* p) => Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(p));

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public Vector128<float> Rows4(int r0, int r1, int r2, int r3, float* x)
        {
            sbyte* q0 = q + (nint)r0 * cols, q1 = q + (nint)r1 * cols, q2 = q + (nint)r2 * cols, q3 = q + (nint)r3 * cols;
            float* s0 = scales + (nint)r0 * _blocks, s1 = scales + (nint)r1 * _blocks;
            float* s2 = scales + (nint)r2 * _blocks, s3 = scales + (nint)r3 * _blocks;
            sbyte* nextQ = q3 + cols; // the next 4 rows and their scales, prefetched at the pace these 4 are read
            float* nextS = s3 + _blocks;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (nint b = 0; b < _blocks; b++)
            {
                nint c0 = b * BlockSize;
                Sse.Prefetch0(nextQ + 4 * c0);
                Sse.Prefetch0(nextQ + 4 * c0 + 64);
                Sse.Prefetch0(nextS + 4 * b);
                Vector256<float> v0 = Vector256.Create(s0[b]), v1 = Vector256.Create(s1[b]);
                Vector256<float> v2 = Vector256.Create(s2[b]), v3 = Vector256.Create(s3[b]);
                for (nint c = c0; c < c0 + BlockSize; c += 8)
                {
                    Vector256<float> xv = Vector256.Load(x + c);
                    a0 = Fma.MultiplyAdd(Avx.Multiply(Widen(q0 + c), v0), xv, a0);
                    a1 = Fma.MultiplyAdd(Avx.Multiply(Widen(q1 + c), v1), xv, a1);
                    a2 = Fma.MultiplyAdd(Avx.Multiply(Widen(q2 + c), v2), xv, a2);
                    a3 = Fma.MultiplyAdd(Avx.Multiply(Widen(q3 + c), v3), xv, a3);
                }
            }
            return TiledMatMul.Sum4(a0, a1, a2, a3);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Tile2x4(int r0, int r1, float* x0, float* x1, float* x2, float* x3, out Vector128<float> s0, out Vector128<float> s1)
        {
            sbyte* q0 = q + (nint)r0 * cols, q1 = q + (nint)r1 * cols;
            float* sc0 = scales + (nint)r0 * _blocks, sc1 = scales + (nint)r1 * _blocks;
            sbyte* nextQ = q1 + cols; // the next 2 rows and their scales, prefetched at the pace these 2 are read
            float* nextS = sc1 + _blocks;
            Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
            Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
            for (nint b = 0; b < _blocks; b++)
            {
                Sse.Prefetch1(nextQ + 2 * b * BlockSize);
                Sse.Prefetch1(nextS + 2 * b);
                Vector256<float> v0 = Vector256.Create(sc0[b]), v1 = Vector256.Create(sc1[b]);
                for (nint c = b * BlockSize; c < (b + 1) * BlockSize; c += 8)
                {
                    Vector256<float> w0 = Avx.Multiply(Widen(q0 + c), v0);
                    Vector256<float> w1 = Avx.Multiply(Widen(q1 + c), v1);
                    Vector256<float> xv = Vector256.Load(x0 + c);
                    a00 = Fma.MultiplyAdd(w0, xv, a00);
                    a10 = Fma.MultiplyAdd(w1, xv, a10);
                    xv = Vector256.Load(x1 + c);
                    a01 = Fma.MultiplyAdd(w0, xv, a01);
                    a11 = Fma.MultiplyAdd(w1, xv, a11);
                    xv = Vector256.Load(x2 + c);
                    a02 = Fma.MultiplyAdd(w0, xv, a02);
                    a12 = Fma.MultiplyAdd(w1, xv, a12);
                    xv = Vector256.Load(x3 + c);
                    a03 = Fma.MultiplyAdd(w0, xv, a03);
                    a13 = Fma.MultiplyAdd(w1, xv, a13);
                }
            }
            s0 = TiledMatMul.Sum4(a00, a01, a02, a03);
            s1 = TiledMatMul.Sum4(a10, a11, a12, a13);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public Vector128<float> Tile2x2(int r0, int r1, float* x0, float* x1)
        {
            sbyte* q0 = q + (nint)r0 * cols, q1 = q + (nint)r1 * cols;
            float* sc0 = scales + (nint)r0 * _blocks, sc1 = scales + (nint)r1 * _blocks;
            sbyte* nextQ = q1 + cols; // the next 2 rows and their scales, prefetched at the pace these 2 are read
            float* nextS = sc1 + _blocks;
            Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default;
            for (nint b = 0; b < _blocks; b++)
            {
                Sse.Prefetch1(nextQ + 2 * b * BlockSize);
                Sse.Prefetch1(nextS + 2 * b);
                Vector256<float> v0 = Vector256.Create(sc0[b]), v1 = Vector256.Create(sc1[b]);
                for (nint c = b * BlockSize; c < (b + 1) * BlockSize; c += 8)
                {
                    Vector256<float> w0 = Avx.Multiply(Widen(q0 + c), v0);
                    Vector256<float> w1 = Avx.Multiply(Widen(q1 + c), v1);
                    Vector256<float> xa = Vector256.Load(x0 + c);
                    Vector256<float> xb = Vector256.Load(x1 + c);
                    a00 = Fma.MultiplyAdd(w0, xa, a00);
                    a01 = Fma.MultiplyAdd(w0, xb, a01);
                    a10 = Fma.MultiplyAdd(w1, xa, a10);
                    a11 = Fma.MultiplyAdd(w1, xb, a11);
                }
            }
            return TiledMatMul.Sum4(a00, a01, a10, a11);
        }
    }
}
