using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using CtcDrafter.Model;

namespace CtcDrafter.Kernels;

/// <summary>
/// W [rows, cols] as int8 with one fp32 scale per block of 32 consecutive weights of a row: W[r, c] = q[r, c] * scale[r, c / 32],
/// scale = max|block| / 127, q = round(w / scale). Products run on quantized activations
/// (<see cref="IntBlockKernel{TBlocks}"/>), as llama.cpp's Q8_0 x Q8_0 dot products do.
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
        MatMulQuantized(new Blocks(_q, _scales, Rows, Cols), x, y, tokens);

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

    /// <summary>Signed blocks, one scale per block.</summary>
    readonly struct Blocks(sbyte* q, float* scales, int rows, int cols) : IIntBlocks
    {
        readonly nint _blocks = cols / BlockSize;

        public int Rows => rows;
        public int Cols => cols;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public IntRow Row(int r) => new((byte*)(q + r * (nint)cols), scales + r * _blocks, null);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Prefetch(in IntRow next, nint b, int rows)
        {
            Sse.Prefetch0(next.Weights + rows * BlockSize * b);
            if (rows > 2) Sse.Prefetch0(next.Weights + rows * BlockSize * b + 64);
            if ((b & 3) == 0) Sse.Prefetch0(next.Scales + rows * b);
        }

        public bool HasSigns => true;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<sbyte> Load(in IntRow row, nint b) => Vector256.Load((sbyte*)row.Weights + BlockSize * b);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<sbyte> Load2(in IntRow row, nint b) => Vector512.Load((sbyte*)row.Weights + BlockSize * b);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Scales(in IntRow row, nint b, float dx) => Vector256.Create(row.Scales[b] * dx);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Scales2(in IntRow row, nint b) => IntBlockKernel512.PerBlock(row.Scales + b);

        public bool HasMins => false;

        public Vector256<float> Mins(in IntRow row, nint b) => default;
    }
}
