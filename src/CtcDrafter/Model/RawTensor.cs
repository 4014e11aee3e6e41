namespace CtcDrafter.Model;

/// <summary>Element types a model file may hold: plain floats, and GGUF's blocks: Q8_0 (32 int8 weights of one row
/// after an fp16 scale: 34 bytes), Q4_0 (32 weights in 18 bytes), Q4_K and Q6_K (256 weights in 144 and 210 bytes).</summary>
/// <summary>Element types of stored tensors: floats and ggml blocks for weights, I64 and BOOL for index tables (EAGLE-3's d2t, t2d).</summary>
internal enum TensorDType { F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, I64, BOOL }

/// <summary>A tensor as it lies in a (memory-mapped) file: no copy, no conversion.</summary>
internal readonly unsafe struct RawTensor(string name, TensorDType dtype, int[] shape, byte* data)
{
    public string Name { get; } = name;
    public TensorDType DType { get; } = dtype;
    public int[] Shape { get; } = shape;
    /// <summary>First byte of the tensor's data; valid while the file that holds it is open.</summary>
    public byte* Data { get; } = data;

    public long Elements
    {
        get
        {
            long n = 1;
            foreach (int d in Shape) n *= d;
            return n;
        }
    }

    /// <summary>Weights per block and bytes per block of a type (1 weight for the float types). A block never spans
    /// two rows: a row's length must be a multiple of the block size.</summary>
    public static (int Weights, int Bytes) Block(TensorDType t) => t switch
    {
        TensorDType.F32 => (1, 4),
        TensorDType.F16 or TensorDType.BF16 => (1, 2),
        TensorDType.I64 => (1, 8),
        TensorDType.BOOL => (1, 1),
        TensorDType.Q8_0 => (32, 34),
        TensorDType.Q4_0 => (32, 18),
        TensorDType.Q4_K => (256, 144),
        TensorDType.Q6_K => (256, 210),
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
    };

    public long ByteLength => CheckedByteLength(Shape, DType) ?? throw new InvalidOperationException($"tensor '{Name}' has no valid size");

    /// <summary>The byte length of a tensor of this shape and type, or null when a dimension is negative, the row
    /// length is not a whole number of blocks, or the size passes 2^62 bytes (so that a header's shape can never wrap
    /// to a small number). The row is the last dimension.</summary>
    public static long? CheckedByteLength(int[] shape, TensorDType dtype)
    {
        const long limit = 1L << 62;
        var (weights, bytesPerBlock) = Block(dtype);
        if (shape.Length > 0 && shape[^1] % weights != 0) return null;
        long bytes = bytesPerBlock;
        for (int i = 0; i < shape.Length; i++)
        {
            int d = i == shape.Length - 1 ? shape[i] / weights : shape[i];
            if (d < 0 || (d > 0 && bytes > limit / d)) return null;
            bytes *= d;
        }
        return bytes;
    }
}
