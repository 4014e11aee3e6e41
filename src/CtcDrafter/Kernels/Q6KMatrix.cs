using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using CtcDrafter.Model;

namespace CtcDrafter.Kernels;

/// <summary>
/// W [rows, cols] from GGUF's Q6_K (super-blocks of 256 weights in 210 bytes: 4-bit low parts, 2-bit high parts,
/// 16 int8 scales, an fp16 factor d): W[r, c] = scale[r, c / 16] * q[r, c] with q in -32..31 and
/// scale = d * int8 scale, exact in fp32. Q4_K_M files store some tensors (often the output matrix) this way.
/// </summary>
/// <remarks>Layout: q unpacked to one signed byte per weight [rows, cols], scales in fp32 [rows, cols / 16]: the
/// kernel then reads 1.25 bytes per weight where the file holds 0.82 (a simpler kernel, for the few tensors of a
/// file in this type). Products run on quantized activations (<see cref="IntBlockKernel{TBlocks}"/>).</remarks>
internal sealed unsafe class Q6KMatrix : WeightMatrix
{
    const int SuperBlock = 256, SuperBytes = 210;

    sbyte* _q;       // [rows, cols]
    float* _scales;  // [rows, cols / 16]
    readonly NativeBuffer _owned;

    Q6KMatrix(int rows, int cols) : base(rows, cols)
    {
        long scalesOffset = NativeBuffer.AlignUp((long)rows * cols);
        _owned = new NativeBuffer(scalesOffset + (long)rows * (cols / 16) * sizeof(float));
        _q = (sbyte*)_owned.Pointer;
        _scales = (float*)(_owned.Pointer + scalesOffset);
    }

    /// <summary>Reads a Q6_K tensor: per 128 weights, 64 bytes of low nibbles (weights 0-63 low, 64-127 high) and 32
    /// bytes of 2-bit high parts (weights 0-31, 32-63, 64-95, 96-127 at bits 0, 2, 4, 6).</summary>
    public static Q6KMatrix FromQ6_K(in RawTensor src)
    {
        (int rows, int cols) = Shape2(src);
        if (cols % SuperBlock != 0) throw new ArgumentException($"Tensor '{src.Name}' has {cols} columns, not a multiple of 256 (Q6_K).", nameof(src));
        var m = new Q6KMatrix(rows, cols);
        int supers = cols / SuperBlock;
        for (int r = 0; r < rows; r++)
            for (int s = 0; s < supers; s++)
            {
                byte* block = src.Data + ((long)r * supers + s) * SuperBytes;
                byte* ql = block, qh = block + 128;
                sbyte* sc = (sbyte*)(block + 192);
                float d = Conversions.F16ToF32(*(ushort*)(block + 208));
                sbyte* q = m._q + (nint)r * cols + s * SuperBlock;
                for (int half = 0; half < 2; half++, ql += 64, qh += 32, q += 128)
                    for (int l = 0; l < 32; l++)
                    {
                        q[l] = (sbyte)(((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32);
                        q[l + 32] = (sbyte)(((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32);
                        q[l + 64] = (sbyte)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                        q[l + 96] = (sbyte)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
                    }
                for (int j = 0; j < 16; j++) m._scales[(nint)r * (cols / 16) + s * 16 + j] = d * sc[j];
            }
        return m;
    }

    public override WeightFormat Format => WeightFormat.Q6K;

    public override long Bytes => (long)Rows * Cols + (long)Rows * (Cols / 16) * sizeof(float);

    public override void MatMul(ReadOnlySpan<float> x, Span<float> y, int tokens) =>
        MatMulQuantized(new Blocks(_q, _scales, Rows, Cols), x, y, tokens);

    public override void ReadRow(int r, Span<float> dst)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)r, (uint)Rows, nameof(r));
        ArgumentOutOfRangeException.ThrowIfLessThan(dst.Length, Cols, nameof(dst));
        for (int c = 0; c < Cols; c++) dst[c] = _scales[(nint)r * (Cols / 16) + c / 16] * _q[(nint)r * Cols + c];
    }

    public override void Dispose()
    {
        _owned.Dispose();
        _q = null;
        _scales = null;
    }

    readonly struct Blocks(sbyte* q, float* scales, int rows, int cols) : IIntBlocks
    {
        readonly nint _scalesPerRow = cols / 16;

        public int Rows => rows;
        public int Cols => cols;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public IntRow Row(int r) => new((byte*)(q + (nint)r * cols), scales + r * _scalesPerRow, null);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Prefetch(in IntRow next, nint b, int rows)
        {
            Sse.Prefetch0(next.Weights + rows * 32 * b);
            Sse.Prefetch0(next.Weights + rows * 32 * b + 64);
            if ((b & 1) == 0) Sse.Prefetch0(next.Scales + rows * 2 * b);
        }

        public bool HasSigns => true;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<sbyte> Load(in IntRow row, nint b) => Vector256.Load((sbyte*)row.Weights + 32 * b);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<sbyte> Load2(in IntRow row, nint b) => Vector512.Load((sbyte*)row.Weights + 32 * b);

        /// <summary>Lanes 0-3 sum weights 0-15 of the block, lanes 4-7 weights 16-31: one scale each.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Scales(in IntRow row, nint b, float dx)
        {
            float* s = row.Scales + 2 * b;
            return Vector256.Create(Vector128.Create(s[0] * dx), Vector128.Create(s[1] * dx));
        }

        /// <summary>Lanes 0-3, 4-7, 8-11, 12-15: weights 0-15, 16-31 of block b, then of block b + 1.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Scales2(in IntRow row, nint b) =>
            Avx512F.PermuteVar16x32(Vector128.Load(row.Scales + 2 * b).ToVector256Unsafe().ToVector512Unsafe(), Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));

        public bool HasMins => false;

        public Vector256<float> Mins(in IntRow row, nint b) => default;
    }
}
