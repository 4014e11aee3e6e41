using System.Buffers.Binary;
using System.Text.Json;

namespace CtcDrafter.Model;

/// <summary>
/// One memory-mapped <c>.safetensors</c> file: an 8-byte little-endian header length, a JSON header
/// <c>{name: {dtype, shape, data_offsets:[begin, end]}, "__metadata__": {...}}</c>, then the data.
/// Every offset and shape is checked against the file before a tensor is handed out.
/// </summary>
internal sealed unsafe class SafeTensorsFile : IDisposable
{
    readonly MappedFile _file;
    readonly byte* _base;
    readonly Dictionary<string, RawTensor> _tensors = new(StringComparer.Ordinal);

    public string Path { get; }
    public IReadOnlyDictionary<string, RawTensor> Tensors => _tensors;
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public SafeTensorsFile(string path)
    {
        Path = path;
        _file = new MappedFile(path, 8, "safetensors");
        _base = _file.Base;
        long length = _file.Length;
        try { Metadata = ParseHeader(length); }
        catch { Dispose(); throw; }
    }

    Dictionary<string, string> ParseHeader(long fileLength)
    {
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(_base, 8));
        if (headerLen == 0 || headerLen > (ulong)(fileLength - 8) || headerLen > 100_000_000)
            throw new ModelFormatException(Path, $"header length {headerLen} does not fit a file of {fileLength} bytes (truncated or not safetensors)");
        long dataStart = 8 + (long)headerLen, dataLength = fileLength - dataStart;
        var meta = new Dictionary<string, string>();
        var ranges = new List<(long Begin, long End, string Name)>();
        JsonDocument doc;
        try { doc = JsonDocument.Parse(new ReadOnlyMemory<byte>(new ReadOnlySpan<byte>(_base + 8, (int)headerLen).ToArray())); }
        catch (JsonException e) { throw new ModelFormatException(Path, $"header is not valid JSON ({e.Message})"); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new ModelFormatException(Path, "header is not a JSON object");
            foreach (JsonProperty t in doc.RootElement.EnumerateObject())
            {
                if (t.Name == "__metadata__")
                {
                    if (t.Value.ValueKind == JsonValueKind.Object)
                        foreach (JsonProperty m in t.Value.EnumerateObject()) meta[m.Name] = m.Value.ToString();
                    continue;
                }
                if (_tensors.ContainsKey(t.Name)) throw new ModelFormatException(Path, $"tensor '{t.Name}' is listed twice");
                var (tensor, begin, end) = ParseTensor(t.Name, t.Value, dataStart, dataLength);
                _tensors[t.Name] = tensor;
                ranges.Add((begin, end, t.Name));
            }
        }
        CheckDisjoint(ranges);
        return meta;
    }

    /// <summary>No two tensors may share a byte: aliased ranges would let one write (or one corrupt header) change
    /// several weights at once, and no writer produces them.</summary>
    void CheckDisjoint(List<(long Begin, long End, string Name)> ranges)
    {
        ranges.RemoveAll(r => r.End == r.Begin);
        ranges.Sort((a, b) => a.Begin.CompareTo(b.Begin));
        for (int i = 1; i < ranges.Count; i++)
            if (ranges[i].Begin < ranges[i - 1].End)
                throw new ModelFormatException(Path, $"tensors '{ranges[i - 1].Name}' and '{ranges[i].Name}' overlap in the data section (bytes {ranges[i].Begin} to {Math.Min(ranges[i].End, ranges[i - 1].End)})");
    }

    (RawTensor Tensor, long Begin, long End) ParseTensor(string name, JsonElement e, long dataStart, long dataLength)
    {
        try
        {
            string dtypeName = e.GetProperty("dtype").GetString() ?? "";
            TensorDType dtype = dtypeName switch
            {
                "F32" => TensorDType.F32,
                "F16" => TensorDType.F16,
                "BF16" => TensorDType.BF16,
                "I64" => TensorDType.I64,
                "BOOL" => TensorDType.BOOL,
                _ => throw new ModelFormatException(Path, $"tensor '{name}' has unsupported dtype {dtypeName} (supported: F32, F16, BF16, and I64, BOOL for index tables)"),
            };
            int[] shape = e.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray();
            long bytes = RawTensor.CheckedByteLength(shape, dtype)
                ?? throw new ModelFormatException(Path, $"tensor '{name}' has shape [{string.Join(", ", shape)}]: a negative dimension or a size beyond 2^62 bytes");
            JsonElement off = e.GetProperty("data_offsets");
            if (off.GetArrayLength() != 2) throw new ModelFormatException(Path, $"tensor '{name}': data_offsets must be [begin, end]");
            long begin = off[0].GetInt64(), end = off[1].GetInt64();
            if (begin < 0 || end < begin || end > dataLength)
                throw new ModelFormatException(Path, $"tensor '{name}' data [{begin}, {end}) lies outside the {dataLength} data bytes (truncated or corrupt file)");
            if (end - begin != bytes)
                throw new ModelFormatException(Path, $"tensor '{name}' has shape [{string.Join(", ", shape)}] {dtypeName} = {bytes} bytes but its offsets span {end - begin}");
            return (new RawTensor(name, dtype, shape, _base + dataStart + begin), begin, end);
        }
        catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new ModelFormatException(Path, $"tensor '{name}' has a malformed header entry ({ex.Message})");
        }
    }

    /// <summary>
    /// Tells the kernel the pages of a tensor that was converted into owned memory are no longer needed, so that
    /// the mapping does not keep a second copy of the weights resident (Linux; elsewhere a no-op). Pages shared
    /// with a neighbouring tensor are read back from the page cache if that tensor is used.
    /// </summary>
    public void Release(in RawTensor t)
    {
        if (!OperatingSystem.IsLinux()) return;
        const long page = 4096;
        long start = ((long)t.Data + page - 1) / page * page, end = ((long)t.Data + t.ByteLength) / page * page;
        if (end > start) _ = Madvise((nint)start, (nuint)(end - start), MadvDontNeed);
    }

    const int MadvDontNeed = 4;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "madvise")]
    static extern int Madvise(nint address, nuint length, int advice);

    public void Dispose()
    {
        _file.Dispose();
    }
}
