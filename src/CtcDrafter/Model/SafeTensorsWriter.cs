using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;

namespace CtcDrafter.Model;

/// <summary>Writes a <c>.safetensors</c> file atomically: to a temporary file first, renamed when complete.</summary>
internal static class SafeTensorsWriter
{
    public sealed record Entry(string Name, TensorDType DType, int[] Shape, byte[] Data);

    public static Entry F32(string name, int[] shape, ReadOnlySpan<float> data) =>
        new(name, TensorDType.F32, shape, MemoryMarshal.AsBytes(data).ToArray());

    /// <summary>fp32 values rounded to bfloat16 (round to nearest even).</summary>
    public static Entry BF16(string name, int[] shape, ReadOnlySpan<float> data)
    {
        var bytes = new byte[data.Length * 2];
        for (int i = 0; i < data.Length; i++)
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), Kernels.Conversions.F32ToBf16(data[i]));
        return new(name, TensorDType.BF16, shape, bytes);
    }

    public static Entry F16(string name, int[] shape, ReadOnlySpan<float> data)
    {
        var bytes = new byte[data.Length * 2];
        for (int i = 0; i < data.Length; i++)
            BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(2 * i), (Half)data[i]);
        return new(name, TensorDType.F16, shape, bytes);
    }

    /// <summary>fp32 values stored as "F32", "BF16" or "F16".</summary>
    public static Entry Encode(string name, int[] shape, ReadOnlySpan<float> data, string dtype) => dtype switch
    {
        "F32" => F32(name, shape, data),
        "BF16" => BF16(name, shape, data),
        "F16" => F16(name, shape, data),
        _ => throw new ArgumentException($"unknown file dtype '{dtype}' (F32, BF16, F16)"),
    };

    public static void Write(string path, IReadOnlyList<Entry> entries, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
            header["__metadata__"] = new JsonObject(metadata.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));
        long offset = 0;
        foreach (Entry e in entries)
        {
            header[e.Name] = new JsonObject
            {
                ["dtype"] = e.DType.ToString(),
                ["shape"] = new JsonArray(e.Shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + e.Data.Length),
            };
            offset += e.Data.Length;
        }
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8; // keeps the data 8-byte aligned; spaces are valid JSON padding
        string tmp = path + ".tmp";
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write))
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
            f.Write(len);
            f.Write(json);
            for (int i = json.Length; i < padded; i++) f.WriteByte((byte)' ');
            foreach (Entry e in entries) f.Write(e.Data);
        }
        File.Move(tmp, path, overwrite: true);
    }
}
