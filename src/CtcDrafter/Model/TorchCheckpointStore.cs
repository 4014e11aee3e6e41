using System.IO.Compression;
using System.Runtime.InteropServices;

namespace CtcDrafter.Model;

/// <summary>
/// The tensors of a PyTorch <c>torch.save</c> file (<c>pytorch_model.bin</c>, <c>*.pt</c>), or of the shards a
/// <c>pytorch_model.bin.index.json</c> lists: each a zip holding
/// <c>PREFIX/data.pkl</c> (the state dict, read by <see cref="TorchPickle"/>) and one entry <c>PREFIX/data/KEY</c> per
/// storage. Each storage is read once into native memory; a contiguous tensor is a view of it, any other view (a
/// transposed matrix, a strided slice) is copied out in row-major order.
/// </summary>
internal sealed unsafe class TorchCheckpointStore : TensorStore
{
    readonly List<nint> _storages = [];

    public TorchCheckpointStore(string file) : this(file, [file])
    {
    }

    /// <param name="source">The file, or the index of the shards, named in messages.</param>
    TorchCheckpointStore(string source, IReadOnlyList<string> files) : base(source)
    {
        try { foreach (string file in files) Read(file); }
        catch { Dispose(); throw; }
    }

    /// <summary>The tensors of every shard a <c>pytorch_model.bin.index.json</c> names (a tensor in two shards is refused).</summary>
    public static TorchCheckpointStore Sharded(string index) => new(index, ShardIndex.Files(index));

    void Read(string file)
    {
        if (!File.Exists(file)) throw new ModelFormatException(file, "file not found");
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read);
        if (stream.Length >= 2 && stream.ReadByte() == 0x80 && stream.ReadByte() == 0x02)
            throw new ModelFormatException(file, "a legacy (pre-1.6, not zip) torch.save file: re-save it with a current PyTorch");
        stream.Position = 0;
        try
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Read);
            var pickles = zip.Entries.Where(e => e.FullName == "data.pkl" || e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal)).ToList();
            if (pickles.Count != 1) throw new ModelFormatException(file, $"a torch.save zip has one data.pkl; this one has {pickles.Count}");
            string prefix = pickles[0].FullName[..^"data.pkl".Length];
            if (zip.GetEntry(prefix + "byteorder") is { } order && ReadAll(order, file).AsSpan().SequenceEqual("big"u8))
                throw new ModelFormatException(file, "the tensors are stored big-endian");
            var tensors = TorchPickle.ReadStateDict(ReadAll(pickles[0], file), $"{file}: {pickles[0].FullName}");
            var storages = new Dictionary<string, nint>(StringComparer.Ordinal);
            foreach (var (name, t) in tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                if (!storages.TryGetValue(t.Storage.Key, out nint data))
                    storages[t.Storage.Key] = data = ReadStorage(zip, prefix, t.Storage, file);
                long elementBytes = RawTensor.Block(t.Storage.DType).Bytes;
                byte* first = (byte*)data + t.Offset * elementBytes;
                Add(name, new RawTensor(name, t.Storage.DType, t.Shape, t.Contiguous ? first : Gather(t, first, (int)elementBytes)), file);
            }
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            throw new ModelFormatException(file, $"not a readable zip archive, truncated or corrupt ({e.Message})");
        }
    }

    nint ReadStorage(ZipArchive zip, string prefix, TorchPickle.Storage s, string file)
    {
        string entryName = $"{prefix}data/{s.Key}";
        ZipArchiveEntry entry = zip.GetEntry(entryName) ?? throw new ModelFormatException(file, $"storage '{entryName}' is missing from the zip");
        long bytes = s.Elements * RawTensor.Block(s.DType).Bytes;
        if (entry.Length != bytes)
            throw new ModelFormatException(file, $"storage '{entryName}' holds {entry.Length} bytes; data.pkl says {s.Elements} {s.DType} elements ({bytes} bytes)");
        nint data = (nint)NativeMemory.Alloc((nuint)Math.Max(bytes, 1));
        _storages.Add(data);
        using Stream src = entry.Open();
        for (long done = 0; done < bytes; done += 1 << 30)
            src.ReadExactly(new Span<byte>((byte*)data + done, (int)Math.Min(1 << 30, bytes - done)));
        return data;
    }

    /// <summary>The elements of a strided view, copied into a new row-major buffer of its shape.</summary>
    byte* Gather(TorchPickle.Tensor t, byte* first, int elementBytes)
    {
        long count = t.Shape.Aggregate(1L, (a, d) => a * d);
        byte* dst = (byte*)NativeMemory.Alloc((nuint)Math.Max(count * elementBytes, 1));
        _storages.Add((nint)dst);
        var index = new int[t.Shape.Length]; // the row-major index of element n
        for (long n = 0; n < count; n++)
        {
            long at = 0;
            for (int k = 0; k < index.Length; k++) at += index[k] * t.Strides[k];
            Buffer.MemoryCopy(first + at * elementBytes, dst + n * elementBytes, elementBytes, elementBytes);
            for (int k = index.Length - 1; k >= 0 && ++index[k] == t.Shape[k]; k--) index[k] = 0;
        }
        return dst;
    }

    static byte[] ReadAll(ZipArchiveEntry entry, string file)
    {
        if (entry.Length > 1 << 30) throw new ModelFormatException(file, $"'{entry.FullName}' is {entry.Length} bytes, beyond any state dict's pickle");
        var bytes = new byte[entry.Length];
        using Stream s = entry.Open();
        s.ReadExactly(bytes);
        return bytes;
    }

    public override void Release(string name) { }

    public override void Dispose()
    {
        foreach (nint p in _storages) NativeMemory.Free((void*)p);
        _storages.Clear();
    }
}
