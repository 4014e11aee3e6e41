using System.IO.Compression;
using System.Text;
using CtcDrafter.Kernels;
using CtcDrafter.Model;
using CtcDrafter.Tests.Model;

namespace CtcDrafter.Tests.DraftCheckpoints;

/// <summary>
/// The torch.save reader on zips built here byte by byte: a state dict it reads, and pickles it must refuse (a
/// global outside its allow-list, an opcode torch.save never writes, a call of a storage type), each refused naming
/// what it found, with nothing run. The real files PyTorch writes are in <see cref="DraftImportTests"/>.
/// </summary>
public class TorchPickleTests
{
    /// <summary>Pickle opcodes, written out (protocol 2 as torch.save writes it).</summary>
    sealed class Pickle
    {
        readonly MemoryStream _s = new();
        public Pickle Op(params byte[] b) { _s.Write(b); return this; }
        public Pickle Str(string v)
        {
            byte[] b = Encoding.UTF8.GetBytes(v);
            Op(0x58).Op(BitConverter.GetBytes(b.Length)).Op(b);
            return this;
        }
        public Pickle Global(string module, string name) => Op(0x63).Op(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
        public Pickle Int(byte v) => Op(0x4b, v);
        public byte[] Bytes => _s.ToArray();
    }

    static string Zip(TempDir dir, byte[] pickle, params (string Name, byte[] Data)[] storages)
    {
        string path = dir["model.pt"];
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            foreach (var (name, data) in storages.Prepend(("data.pkl", pickle)))
                using (Stream s = zip.CreateEntry($"archive/{name}", CompressionLevel.NoCompression).Open())
                    s.Write(data);
        }
        return path;
    }

    /// <summary>{'w': tensor [2, 3] of float storage '0' from element 1, strides (3, 1) unless given} as torch.save pickles a state dict.</summary>
    static byte[] StateDict(string storageType = "FloatStorage", byte rowStride = 3, byte columnStride = 1) => new Pickle()
        .Op(0x80, 2).Global("collections", "OrderedDict").Op(0x29, 0x52) // OrderedDict()
        .Op(0x28).Str("w")
        .Global("torch._utils", "_rebuild_tensor_v2").Op(0x28)
        .Op(0x28).Str("storage").Global("torch", storageType).Str("0").Str("cpu").Int(7).Op(0x74, 0x51) // persistent id
        .Int(1).Int(2).Int(3).Op(0x86).Int(rowStride).Int(columnStride).Op(0x86).Op(0x89).Global("collections", "OrderedDict").Op(0x29, 0x52)
        .Op(0x74, 0x52)
        .Op(0x75) // SETITEMS
        .Op(0x7d).Str("_metadata").Op(0x7d).Op(0x73).Op(0x62) // BUILD with {'_metadata': {}}
        .Op(0x2e).Bytes;

    [Fact]
    public void StateDictIsRead()
    {
        using var dir = new TempDir();
        float[] values = [9, 1, 2, 3, 4, 5, 6];
        string path = Zip(dir, StateDict(), ("data/0", values.SelectMany(BitConverter.GetBytes).ToArray()));
        using var store = new TorchCheckpointStore(path);
        var w = new float[6];
        Conversions.ReadF32(store.Get("w", 2, 3), 0, w);
        Assert.Equal([1f, 2, 3, 4, 5, 6], w);
    }

    /// <summary>A transposed view (strides (1, 2)) is read element by element through its strides; one that would read past its storage is refused.</summary>
    [Fact]
    public void StridedViewsAreReadThroughTheirStrides()
    {
        using var dir = new TempDir();
        float[] values = [9, 1, 2, 3, 4, 5, 6];
        string path = Zip(dir, StateDict(rowStride: 1, columnStride: 2), ("data/0", values.SelectMany(BitConverter.GetBytes).ToArray()));
        using (var store = new TorchCheckpointStore(path))
        {
            var w = new float[6];
            Conversions.ReadF32(store.Get("w", 2, 3), 0, w);
            Assert.Equal([1f, 3, 5, 2, 4, 6], w);
        }
        Assert.Contains("reads past its storage of 7 elements", Refused(StateDict(rowStride: 1, columnStride: 3), ("data/0", values.SelectMany(BitConverter.GetBytes).ToArray())));
    }

    static string Refused(byte[] pickle, params (string, byte[])[] storages)
    {
        using var dir = new TempDir();
        string path = Zip(dir, pickle, storages);
        return Assert.Throws<ModelFormatException>(() => new TorchCheckpointStore(path).Dispose()).Message;
    }

    [Fact]
    public void GlobalOutsideTheAllowListIsRefusedAndNothingRuns()
    {
        string marker = Path.Combine(Path.GetTempPath(), $"ctcdrafter-pwned-{Guid.NewGuid():N}");
        byte[] system = new Pickle().Op(0x80, 2).Global("os", "system").Str($"touch {marker}").Op(0x85, 0x52, 0x2e).Bytes;
        Assert.Contains("the pickle refers to 'os.system', which is not allowed", Refused(system));
        Assert.False(File.Exists(marker));
        // Protocol 4's STACK_GLOBAL, the form a newer pickler would write.
        byte[] eval = new Pickle().Op(0x80, 4).Op(0x95).Op(new byte[8]).Op(0x8c, 8).Op("builtins"u8.ToArray()).Op(0x8c, 4).Op("eval"u8.ToArray())
            .Op(0x93).Str("1").Op(0x85, 0x52, 0x2e).Bytes;
        Assert.Contains("'builtins.eval', which is not allowed", Refused(eval));
    }

    [Fact]
    public void OtherOpcodesCallsAndStoragesAreRefused()
    {
        Assert.Contains("opcode 0x69 ('i') is not one torch.save writes", Refused(new Pickle().Op(0x80, 2, 0x28).Op("ios\nsystem\n"u8.ToArray()).Op(0x2e).Bytes));
        Assert.Contains("REDUCE of a StorageType", Refused(new Pickle().Op(0x80, 2).Global("torch", "FloatStorage").Op(0x29, 0x52, 0x2e).Bytes));
        Assert.Contains("'torch.DoubleStorage', which is not allowed", Refused(StateDict("DoubleStorage")));
        Assert.Contains("truncated", Refused(StateDict()[..40]));
        Assert.Contains("storage 'archive/data/0' holds 8 bytes; data.pkl says 7 F32 elements (28 bytes)", Refused(StateDict(), ("data/0", new byte[8])));
        Assert.Contains("storage 'archive/data/0' is missing", Refused(StateDict()));
    }

    [Fact]
    public void LegacyAndNonZipFilesAreRefused()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["legacy.pt"], [0x80, 0x02, 0x8a, 0x0a]);
        Assert.Contains("a legacy (pre-1.6, not zip) torch.save file", Assert.Throws<ModelFormatException>(() => new TorchCheckpointStore(dir["legacy.pt"])).Message);
        File.WriteAllBytes(dir["junk.pt"], Encoding.ASCII.GetBytes("not a zip at all"));
        Assert.Contains("not a readable zip archive, truncated or corrupt", Assert.Throws<ModelFormatException>(() => new TorchCheckpointStore(dir["junk.pt"])).Message);
    }
}
