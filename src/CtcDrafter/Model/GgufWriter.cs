using System.Text;

namespace CtcDrafter.Model;

/// <summary>
/// Writes a GGUF v3 file: the header, metadata (u32, i32, f32, bool, string, and arrays of string, f32, i32), tensor
/// infos in ggml dimension order (the row first) and the tensors' data, each at a multiple of the alignment (32).
/// The file is written beside its destination and renamed into place, so a failed write leaves nothing behind.
/// </summary>
internal sealed class GgufWriter
{
    public const int Alignment = 32;

    /// <summary>ggml's type ids of the types written here.</summary>
    public enum TensorType : uint { F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8 }

    readonly List<(string Key, object Value)> _metadata = [];
    readonly List<(string Name, int[] Shape, TensorType Type, byte[] Data)> _tensors = [];

    /// <summary>A metadata value: uint, int, float, bool, string, string[], float[] or int[].</summary>
    public void Add(string key, object value) => _metadata.Add((key, value));

    /// <summary>A tensor of shape [.., row] (PyTorch order) whose data is already encoded in its type.</summary>
    public void AddTensor(string name, int[] shape, TensorType type, byte[] data) => _tensors.Add((name, shape, type, data));

    public void Write(string path)
    {
        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.tmp-{Guid.NewGuid():N}");
        try
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            using (var w = new BinaryWriter(file, Encoding.UTF8))
            {
                w.Write("GGUF"u8);
                w.Write(3u);
                w.Write((ulong)_tensors.Count);
                w.Write((ulong)_metadata.Count);
                foreach (var (key, value) in _metadata)
                {
                    WriteString(w, key);
                    WriteValue(w, key, value);
                }
                ulong offset = 0;
                foreach (var (name, shape, type, data) in _tensors)
                {
                    WriteString(w, name);
                    w.Write((uint)shape.Length);
                    for (int d = shape.Length - 1; d >= 0; d--) w.Write((ulong)shape[d]);
                    w.Write((uint)type);
                    w.Write(offset);
                    offset += Padded(data.Length);
                }
                Pad(w);
                foreach (var (_, _, _, data) in _tensors)
                {
                    w.Write(data);
                    Pad(w);
                }
                w.Flush();
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            if (File.Exists(temp)) File.Delete(temp);
            throw;
        }
    }

    static ulong Padded(long n) => (ulong)((n + Alignment - 1) / Alignment * Alignment);

    static void Pad(BinaryWriter w)
    {
        long pad = -w.BaseStream.Position & (Alignment - 1);
        for (long i = 0; i < pad; i++) w.Write((byte)0);
    }

    static void WriteString(BinaryWriter w, string s)
    {
        byte[] b = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)b.Length);
        w.Write(b);
    }

    // GGUF value types: 4 u32, 5 i32, 6 f32, 7 bool, 8 string, 9 array.
    static void WriteValue(BinaryWriter w, string key, object value)
    {
        switch (value)
        {
            case uint u: w.Write(4u); w.Write(u); break;
            case int i: w.Write(5u); w.Write(i); break;
            case float f: w.Write(6u); w.Write(f); break;
            case bool b: w.Write(7u); w.Write(b ? (byte)1 : (byte)0); break;
            case string s: w.Write(8u); WriteString(w, s); break;
            case string[] a: w.Write(9u); w.Write(8u); w.Write((ulong)a.Length); foreach (string s in a) WriteString(w, s); break;
            case float[] a: w.Write(9u); w.Write(6u); w.Write((ulong)a.Length); foreach (float f in a) w.Write(f); break;
            case int[] a: w.Write(9u); w.Write(5u); w.Write((ulong)a.Length); foreach (int i in a) w.Write(i); break;
            default: throw new ArgumentException($"metadata '{key}' has a value of type {value.GetType().Name}, which GgufWriter does not write");
        }
    }
}
