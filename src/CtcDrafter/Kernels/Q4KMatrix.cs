using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using CtcDrafter.Model;

namespace CtcDrafter.Kernels;

/// <summary>
/// A GGUF Q4_K tensor: W [rows, cols] in 4-bit blocks of 32 weights of a row, W[r, c] = scale[r, b] * q[r, c] - min[r, b]
/// with q in 0..15 and b = c / 32 (super-blocks of 256 with 6-bit scales and mins under two fp16 factors, whose
/// products are exact in fp32).
/// </summary>
/// <remarks>
/// Layout: 16 bytes per block, byte i holding q of column i (low nibble) and column 16 + i (high nibble); scales and
/// mins in fp32, [rows, blocks rounded up to 8]. Products run on quantized activations (<see cref="IntBlockKernel{TBlocks}"/>).
/// </remarks>
internal sealed unsafe class Q4KMatrix : WeightMatrix
{
    public const int BlockSize = 32;

    byte* _q;        // [rows, cols / 2]
    float* _scales;  // [rows, blocks8]
    float* _mins;    // [rows, blocks8]
    readonly NativeBuffer _owned;
    readonly int _blocks8;

    Q4KMatrix(int rows, int cols) : base(rows, cols)
    {
        _blocks8 = QuantizedActivations.Blocks8(cols);
        long scalesOffset = NativeBuffer.AlignUp((long)rows * cols / 2);
        long minsOffset = NativeBuffer.AlignUp(scalesOffset + (long)rows * _blocks8 * sizeof(float));
        _owned = new NativeBuffer(minsOffset + (long)rows * _blocks8 * sizeof(float), zeroed: true);
        _q = _owned.Pointer;
        _scales = (float*)(_owned.Pointer + scalesOffset);
        _mins = (float*)(_owned.Pointer + minsOffset);
    }

    /// <summary>
    /// A GGUF Q4_K tensor: super-blocks of 256 weights in 144 bytes: fp16 d and dmin, 12 bytes packing eight 6-bit
    /// scales and mins, then 128 bytes in which each 32 bytes hold two 32-weight blocks (low nibbles, then high);
    /// w = d * scale_j * q - dmin * min_j.
    /// </summary>
    public static Q4KMatrix FromQ4_K(in RawTensor src)
    {
        (int rows, int cols) = Shape2(src);
        if (cols % 256 != 0) throw new ArgumentException($"Tensor '{src.Name}' has {cols} columns, not a multiple of 256 (Q4_K).", nameof(src));
        var m = new Q4KMatrix(rows, cols);
        int supers = cols / 256;
        Span<byte> q = stackalloc byte[BlockSize];
        for (int r = 0; r < rows; r++)
            for (int s = 0; s < supers; s++)
            {
                byte* block = src.Data + ((long)r * supers + s) * 144;
                float d = Conversions.F16ToF32(*(ushort*)block), dmin = Conversions.F16ToF32(*(ushort*)(block + 2));
                byte* packed = block + 4, qs = block + 16;
                for (int j = 0; j < 8; j++)
                {
                    var (scale, min) = ScaleMinK4(j, packed);
                    byte* chunk = qs + 32 * (j / 2);
                    int shift = 4 * (j % 2);
                    for (int i = 0; i < BlockSize; i++) q[i] = (byte)((chunk[i] >> shift) & 0x0F);
                    m.SetBlock(r, 8 * s + j, q, d * scale, dmin * min);
                }
            }
        return m;
    }

    /// <summary>The 6-bit scale and min of block j (0..7) of a Q4_K super-block's 12 packed bytes.</summary>
    static (int Scale, int Min) ScaleMinK4(int j, byte* q) => j < 4
        ? (q[j] & 63, q[j + 4] & 63)
        : ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4));

    // q [32] values 0..15 of block b of row r
    void SetBlock(int r, int b, ReadOnlySpan<byte> q, float scale, float min)
    {
        byte* dst = _q + ((nint)r * (Cols / BlockSize) + b) * 16;
        for (int i = 0; i < 16; i++) dst[i] = (byte)(q[i] | (q[16 + i] << 4));
        _scales[(nint)r * _blocks8 + b] = scale;
        _mins[(nint)r * _blocks8 + b] = min;
    }

    public override WeightFormat Format => WeightFormat.Q4;

    public override long Bytes => (long)Rows * Cols / 2 + (long)Rows * (Cols / BlockSize) * sizeof(float) * 2;

    public override void MatMul(ReadOnlySpan<float> x, Span<float> y, int tokens) =>
        MatMulQuantized(new Blocks(_q, _scales, _mins, Rows, Cols), x, y, tokens);

    public override void ReadRow(int r, Span<float> dst)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)r, (uint)Rows, nameof(r));
        ArgumentOutOfRangeException.ThrowIfLessThan(dst.Length, Cols, nameof(dst));
        for (int b = 0; b < Cols / BlockSize; b++)
        {
            byte* q = _q + ((nint)r * (Cols / BlockSize) + b) * 16;
            float scale = _scales[(nint)r * _blocks8 + b];
            float min = _mins[(nint)r * _blocks8 + b];
            for (int i = 0; i < 16; i++)
            {
                dst[b * BlockSize + i] = scale * (q[i] & 0x0F) - min;
                dst[b * BlockSize + 16 + i] = scale * (q[i] >> 4) - min;
            }
        }
    }

    public override void Dispose()
    {
        _owned.Dispose();
        _q = null;
        _scales = _mins = null;
    }

    readonly struct Blocks(byte* q, float* scales, float* mins, int rows, int cols) : IIntBlocks
    {
        readonly nint _rowBytes = cols / 2;
        readonly nint _blocks8 = QuantizedActivations.Blocks8(cols);

        public int Rows => rows;
        public int Cols => cols;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public IntRow Row(int r) => new(q + r * _rowBytes, scales + r * _blocks8, mins + r * _blocks8);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Prefetch(in IntRow next, nint b, int rows)
        {
            Sse.Prefetch0(next.Weights + rows * 16 * b);
            if ((b & 3) == 0) Sse.Prefetch0(next.Scales + rows * b);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<sbyte> Load(in IntRow row, nint b)
        {
            Vector128<byte> v = Vector128.Load(row.Weights + 16 * b), low = Vector128.Create((byte)0x0F);
            return Vector256.Create(v & low, Vector128.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & low).AsSByte();
        }

        /// <summary>The 32 nibbles of blocks b and b + 1, as [low(b), high(b), low(b + 1), high(b + 1)] 16-byte lanes.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<sbyte> Load2(in IntRow row, nint b)
        {
            Vector256<byte> v = Vector256.Load(row.Weights + 16 * b), low = Vector256.Create((byte)0x0F);
            Vector512<byte> halves = Vector512.Create(v & low, Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & low);
            return Avx512F.Shuffle4x128(halves.AsUInt32(), halves.AsUInt32(), 0b11_01_10_00).AsSByte();
        }

        public bool HasSigns => false;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Scales(in IntRow row, nint b, float dx) => Vector256.Create(row.Scales[b] * dx);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Scales2(in IntRow row, nint b) => IntBlockKernel512.PerBlock(row.Scales + b);

        public bool HasMins => true;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Mins(in IntRow row, nint b) => Vector256.Load(row.Mins + b);
    }
}
