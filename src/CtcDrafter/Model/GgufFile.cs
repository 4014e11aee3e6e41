using System.Buffers.Binary;
using System.Text;

namespace CtcDrafter.Model;

/// <summary>
/// One memory-mapped GGUF file (version 2 or 3): the magic "GGUF", a u32 version, u64 tensor and metadata counts,
/// the metadata (key, u32 value type, value; arrays as element type, u64 count, elements), the tensor infos (name,
/// u32 dimension count, u64 dimensions in ggml order, innermost first, u32 type, u64 offset), then the data, aligned to
/// <c>general.alignment</c> (32 by default). Every count, size and offset is checked against the file before use;
/// tensors are handed out in row-major order (shape reversed from ggml's), pointing into the mapping.
/// </summary>
internal sealed unsafe class GgufFile : IDisposable
{
    readonly MappedFile _file;
    readonly byte* _base;
    readonly long _length;
    readonly Dictionary<string, object> _metadata = new(StringComparer.Ordinal);
    readonly Dictionary<string, RawTensor> _tensors = new(StringComparer.Ordinal);

    public string Path { get; }
    public int Version { get; private set; }
    public IReadOnlyDictionary<string, object> Metadata => _metadata;
    public IReadOnlyDictionary<string, RawTensor> Tensors => _tensors;

    /// <summary>The ggml tensor types, by id, for the names in messages; those with a <see cref="TensorDType"/> are read.</summary>
    static readonly Dictionary<uint, string> TypeNames = new()
    {
        [0] = "F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [6] = "Q5_0", [7] = "Q5_1", [8] = "Q8_0", [9] = "Q8_1",
        [10] = "Q2_K", [11] = "Q3_K", [12] = "Q4_K", [13] = "Q5_K", [14] = "Q6_K", [15] = "Q8_K", [16] = "IQ2_XXS",
        [17] = "IQ2_XS", [18] = "IQ3_XXS", [19] = "IQ1_S", [20] = "IQ4_NL", [21] = "IQ3_S", [22] = "IQ2_S", [23] = "IQ4_XS",
        [24] = "I8", [25] = "I16", [26] = "I32", [27] = "I64", [28] = "F64", [29] = "IQ1_M", [30] = "BF16",
        [34] = "TQ1_0", [35] = "TQ2_0", [39] = "MXFP4",
    };

    static TensorDType? DTypeOf(uint type) => type switch
    {
        0 => TensorDType.F32, 1 => TensorDType.F16, 2 => TensorDType.Q4_0, 8 => TensorDType.Q8_0, 12 => TensorDType.Q4_K,
        14 => TensorDType.Q6_K, 30 => TensorDType.BF16, _ => null,
    };

    public GgufFile(string path)
    {
        Path = path;
        _file = new MappedFile(path, 24, "GGUF");
        _base = _file.Base;
        _length = _file.Length;
        try { Parse(); }
        catch { Dispose(); throw; }
    }

    long _pos;

    ReadOnlySpan<byte> Take(long count, string what)
    {
        if (count < 0 || count > _length - _pos)
            throw new ModelFormatException(Path, $"truncated or corrupt: {what} at byte {_pos} needs {count} bytes, the file ends at {_length}");
        var span = new ReadOnlySpan<byte>(_base + _pos, (int)count);
        _pos += count;
        return span;
    }

    uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));
    ulong U64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));

    /// <summary>A u64 count that must fit in what is left of the file at <paramref name="minBytes"/> bytes an item.</summary>
    long Count(string what, long minBytes)
    {
        ulong n = U64(what);
        if (n > (ulong)((_length - _pos) / Math.Max(1, minBytes)))
            throw new ModelFormatException(Path, $"{what} is {n}, more than the rest of the file can hold");
        return (long)n;
    }

    string Str(string what)
    {
        long n = Count($"the length of {what}", 1);
        try { return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Take(n, what)); }
        catch (DecoderFallbackException) { throw new ModelFormatException(Path, $"{what} is not valid UTF-8"); }
    }

    void Parse()
    {
        if (!Take(4, "the magic").SequenceEqual("GGUF"u8)) throw new ModelFormatException(Path, "not a GGUF file (no GGUF magic)");
        Version = (int)U32("the version");
        if (Version is not (2 or 3)) throw new ModelFormatException(Path, $"GGUF version {Version} is not supported (2 and 3 are)");
        long tensorCount = Count("the tensor count", 24), kvCount = Count("the metadata count", 13);
        for (long i = 0; i < kvCount; i++)
        {
            string key = Str($"metadata key {i}");
            object value = Value(U32($"the type of '{key}'"), key, depth: 0);
            if (!_metadata.TryAdd(key, value)) throw new ModelFormatException(Path, $"metadata key '{key}' appears twice");
        }
        long alignment = _metadata.TryGetValue("general.alignment", out object? a) ? Integer(a, "general.alignment") : 32;
        if (alignment <= 0 || alignment > 1 << 20 || (alignment & (alignment - 1)) != 0)
            throw new ModelFormatException(Path, $"general.alignment {alignment} is not a power of two up to 2^20");

        var infos = new List<(string Name, int[] Shape, TensorDType DType, long Offset, long Bytes)>();
        for (long i = 0; i < tensorCount; i++)
        {
            string name = Str($"the name of tensor {i}");
            uint dims = U32($"the dimension count of '{name}'");
            if (dims is 0 or > 4) throw new ModelFormatException(Path, $"tensor '{name}' has {dims} dimensions (1 to 4 are allowed)");
            var shape = new int[dims];
            for (int d = 0; d < dims; d++)
            {
                ulong n = U64($"a dimension of '{name}'");
                if (n is 0 or > int.MaxValue) throw new ModelFormatException(Path, $"tensor '{name}' has dimension {n} (1 to 2^31-1 are allowed)");
                shape[dims - 1 - d] = (int)n; // ggml lists the innermost (row) dimension first
            }
            uint type = U32($"the type of '{name}'");
            TensorDType dtype = DTypeOf(type) ?? throw new ModelFormatException(Path,
                $"tensor '{name}' has type {TypeNames.GetValueOrDefault(type, $"#{type}")}, which the engine does not compute (it computes F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K)");
            ulong offset = U64($"the offset of '{name}'");
            long bytes = RawTensor.CheckedByteLength(shape, dtype) ?? throw new ModelFormatException(Path,
                $"tensor '{name}' has shape [{string.Join(", ", shape)}], whose rows are not whole {dtype} blocks or whose size passes 2^62 bytes");
            if (offset % (ulong)alignment != 0 || offset > long.MaxValue)
                throw new ModelFormatException(Path, $"tensor '{name}' has offset {offset}, not a multiple of the alignment {alignment}");
            infos.Add((name, shape, dtype, (long)offset, bytes));
        }
        long dataStart = (_pos + alignment - 1) / alignment * alignment, dataLength = _length - dataStart;
        if (dataLength < 0) throw new ModelFormatException(Path, "truncated: the file ends before its data section");
        foreach (var t in infos)
        {
            if (t.Offset > dataLength - t.Bytes)
                throw new ModelFormatException(Path, $"tensor '{t.Name}' data [{t.Offset}, {t.Offset + t.Bytes}) lies outside the {dataLength} data bytes (truncated or corrupt file)");
            if (!_tensors.TryAdd(t.Name, new RawTensor(t.Name, t.DType, t.Shape, _base + dataStart + t.Offset)))
                throw new ModelFormatException(Path, $"tensor '{t.Name}' is listed twice");
        }
        var sorted = infos.OrderBy(t => t.Offset).ToList();
        for (int i = 1; i < sorted.Count; i++)
            if (sorted[i].Offset < sorted[i - 1].Offset + sorted[i - 1].Bytes)
                throw new ModelFormatException(Path, $"tensors '{sorted[i - 1].Name}' and '{sorted[i].Name}' overlap in the data section");
    }

    // GGUF value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool, 8 string, 9 array, 10 u64, 11 i64, 12 f64.
    object Value(uint type, string key, int depth) => type switch
    {
        0 => (long)Take(1, key)[0],
        1 => (long)(sbyte)Take(1, key)[0],
        2 => (long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2, key)),
        3 => (long)BinaryPrimitives.ReadInt16LittleEndian(Take(2, key)),
        4 => (long)U32(key),
        5 => (long)BinaryPrimitives.ReadInt32LittleEndian(Take(4, key)),
        6 => (double)BinaryPrimitives.ReadSingleLittleEndian(Take(4, key)),
        7 => Take(1, key)[0] switch { 0 => false, 1 => true, var b => throw new ModelFormatException(Path, $"'{key}' is a boolean of value {b}") },
        8 => Str(key),
        9 when depth == 0 => Array(key),
        10 => U64Value(key),
        11 => BinaryPrimitives.ReadInt64LittleEndian(Take(8, key)),
        12 => BinaryPrimitives.ReadDoubleLittleEndian(Take(8, key)),
        9 => throw new ModelFormatException(Path, $"'{key}' is an array of arrays, which no supported key uses"),
        _ => throw new ModelFormatException(Path, $"'{key}' has unknown value type {type}"),
    };

    long U64Value(string key)
    {
        ulong u = U64(key);
        return u <= long.MaxValue ? (long)u : throw new ModelFormatException(Path, $"'{key}' is {u}, beyond 2^63");
    }

    object Array(string key)
    {
        uint type = U32($"the element type of '{key}'");
        long n = Count($"the length of '{key}'", type switch { 2 or 3 => 2, 4 or 5 or 6 => 4, 10 or 11 or 12 => 8, 8 => 8, _ => 1 });
        return type switch
        {
            8 => Build(n, _ => Str($"{key}[]")),
            6 => Build(n, _ => (float)(double)Value(type, key, 1)),
            7 => Build(n, _ => (bool)Value(type, key, 1)),
            12 => Build(n, _ => (double)Value(type, key, 1)),
            _ => Build(n, _ => (long)Value(type, key, 1)),
        };
    }

    static T[] Build<T>(long n, Func<long, T> item)
    {
        var a = new T[n];
        for (long i = 0; i < n; i++) a[i] = item(i);
        return a;
    }

    long Integer(object value, string key) => value is long l ? l
        : throw new ModelFormatException(Path, $"metadata '{key}' must be an integer, it is {Describe(value)}");

    static string Describe(object v) => v switch
    {
        string => "a string", bool => "a boolean", double => "a float", long => "an integer", System.Array => "an array", _ => v.GetType().Name,
    };

    public bool Has(string key) => _metadata.ContainsKey(key);

    /// <summary>An integer metadata value, or null when absent; any other type is an error naming the key.</summary>
    public long? Int(string key) => _metadata.TryGetValue(key, out object? v) ? Integer(v, key) : null;

    public long RequiredInt(string key) => Int(key) ?? throw new ModelFormatException(Path, $"metadata '{key}' is missing");

    public double? Float(string key) => _metadata.TryGetValue(key, out object? v)
        ? v is double d ? d : v is long l ? l : throw new ModelFormatException(Path, $"metadata '{key}' must be a number, it is {Describe(v)}")
        : null;

    public string? Text(string key) => _metadata.TryGetValue(key, out object? v)
        ? v as string ?? throw new ModelFormatException(Path, $"metadata '{key}' must be a string, it is {Describe(v)}")
        : null;

    public bool? Flag(string key) => _metadata.TryGetValue(key, out object? v)
        ? v is bool b ? b : throw new ModelFormatException(Path, $"metadata '{key}' must be a boolean, it is {Describe(v)}")
        : null;

    /// <summary>An array of the given element type (long for every integer type), or null when absent.</summary>
    public T[]? Array<T>(string key) => _metadata.TryGetValue(key, out object? v)
        ? v as T[] ?? throw new ModelFormatException(Path, $"metadata '{key}' must be an array of {typeof(T).Name}, it is {Describe(v)}")
        : null;

    public void Dispose() => _file.Dispose();
}
