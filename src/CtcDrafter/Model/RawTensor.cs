namespace CtcDrafter.Model;

/// <summary>Element types a model file may hold.</summary>
internal enum TensorDType { F32, F16, BF16 }

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

    public static int ElementSize(TensorDType t) => t == TensorDType.F32 ? 4 : 2;

    public long ByteLength => Elements * ElementSize(DType);

    /// <summary>The byte length of a tensor of this shape and type, or null when a dimension is negative or the size
    /// passes 2^62 bytes (so that a header's shape can never wrap to a small number).</summary>
    public static long? CheckedByteLength(int[] shape, TensorDType dtype)
    {
        const long limit = 1L << 62;
        long bytes = ElementSize(dtype);
        foreach (int d in shape)
        {
            if (d < 0 || (d > 0 && bytes > limit / d)) return null;
            bytes *= d;
        }
        return bytes;
    }
}
