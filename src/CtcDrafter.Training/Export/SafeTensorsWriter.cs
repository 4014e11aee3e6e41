using System.Text;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Export;

/// <summary>Tensor element types the exporter writes.</summary>
internal enum ExportDType { BFloat16, Float32 }

/// <summary>
/// Writes a safetensors file (8-byte header length, JSON header padded to 8 bytes, raw little-endian data) with
/// <c>__metadata__ {"format": "pt"}</c>, which Hugging Face transformers requires. BF16 is rounded to nearest even.
/// </summary>
internal static class SafeTensorsWriter
{
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> tensors, ExportDType dtype)
    {
        int elementSize = dtype == ExportDType.BFloat16 ? 2 : 4;
        var names = tensors.Keys.Order(StringComparer.Ordinal).ToList();
        var header = new JsonObject { ["__metadata__"] = new JsonObject { ["format"] = "pt" } };
        long offset = 0;
        foreach (string name in names)
        {
            long bytes = tensors[name].numel() * elementSize;
            header[name] = new JsonObject
            {
                ["dtype"] = dtype == ExportDType.BFloat16 ? "BF16" : "F32",
                ["shape"] = new JsonArray([.. tensors[name].shape.Select(d => JsonValue.Create(d))]),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8;

        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        file.Write(BitConverter.GetBytes((long)padded));
        file.Write(json);
        for (int i = json.Length; i < padded; i++) file.WriteByte((byte)' ');
        foreach (string name in names)
        {
            using var values = tensors[name].detach().to(float32).contiguous().cpu();
            var data = values.data<float>().ToArray();
            if (dtype == ExportDType.Float32)
            {
                var raw = new byte[data.Length * 4];
                Buffer.BlockCopy(data, 0, raw, 0, raw.Length);
                file.Write(raw);
            }
            else
            {
                var raw = new byte[data.Length * 2];
                for (int i = 0; i < data.Length; i++)
                {
                    ushort b = ToBFloat16(data[i]);
                    raw[2 * i] = (byte)b;
                    raw[2 * i + 1] = (byte)(b >> 8);
                }
                file.Write(raw);
            }
        }
    }

    public static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        bits += 0x7FFF + ((bits >> 16) & 1);
        return (ushort)(bits >> 16);
    }
}
