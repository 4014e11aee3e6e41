using System.Text.Json.Nodes;

namespace CtcDrafter.Model;

/// <summary>
/// The tensors of a model folder: <c>model.safetensors</c>, or the shards listed by
/// <c>model.safetensors.index.json</c>. Owns the memory maps; tensors stay valid until disposal.
/// </summary>
internal sealed class TensorStore : IDisposable
{
    readonly List<SafeTensorsFile> _files = [];
    readonly Dictionary<string, (RawTensor Tensor, SafeTensorsFile File)> _byName = new(StringComparer.Ordinal);
    readonly HashSet<string> _read = new(StringComparer.Ordinal);

    public string Folder { get; }

    public TensorStore(string folder)
    {
        Folder = folder;
        try { OpenFiles(); }
        catch { Dispose(); throw; }
    }

    void OpenFiles()
    {
        string single = Path.Combine(Folder, "model.safetensors"), index = Path.Combine(Folder, "model.safetensors.index.json");
        IEnumerable<string> shards;
        if (File.Exists(index)) shards = ReadIndex(index);
        else if (File.Exists(single)) shards = [single];
        else
        {
            string[] any = Directory.GetFiles(Folder, "*.safetensors");
            if (any.Length == 0) throw new ModelFormatException(Folder, "no model.safetensors (or model.safetensors.index.json) in the folder");
            shards = any.Order(StringComparer.Ordinal);
        }
        foreach (string shard in shards)
        {
            var f = new SafeTensorsFile(shard);
            _files.Add(f);
            foreach (var (name, t) in f.Tensors)
                if (!_byName.TryAdd(name, (t, f)))
                    throw new ModelFormatException(shard, $"tensor '{name}' also appears in {_byName[name].File.Path}");
        }
    }

    IEnumerable<string> ReadIndex(string index)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(index)); }
        catch (System.Text.Json.JsonException e) { throw new ModelFormatException(index, $"not valid JSON ({e.Message})"); }
        if (root?["weight_map"] is not JsonObject map) throw new ModelFormatException(index, "no 'weight_map' object");
        var files = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var kv in map)
        {
            string file = kv.Value?.GetValue<string>() ?? throw new ModelFormatException(index, $"no file for '{kv.Key}'");
            if (file.Contains('/') || file.Contains('\\')) throw new ModelFormatException(index, $"shard name '{file}' must be a plain file name");
            files.Add(file);
        }
        return files.Select(f => Path.Combine(Folder, f));
    }

    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The tensor, checked to have the expected shape.</summary>
    public RawTensor Get(string name, params int[] shape)
    {
        if (!_byName.TryGetValue(name, out var e))
            throw new ModelFormatException(Folder, $"tensor '{name}' is missing from the model files");
        if (!e.Tensor.Shape.SequenceEqual(shape))
            throw new ModelFormatException(e.File.Path, $"tensor '{name}' has shape [{string.Join(", ", e.Tensor.Shape)}], expected [{string.Join(", ", shape)}] from config.json");
        _read.Add(name);
        return e.Tensor;
    }

    /// <summary>A 1-D tensor converted to fp32 (norm weights, biases).</summary>
    public float[] GetVector(string name, int length)
    {
        RawTensor t = Get(name, length);
        var v = new float[length];
        Kernels.Conversions.ReadF32(t, 0, v);
        return v;
    }

    /// <summary>Drops the resident pages of a tensor that has been converted (see <see cref="SafeTensorsFile.Release"/>).</summary>
    public void Release(string name)
    {
        if (_byName.TryGetValue(name, out var e)) e.File.Release(e.Tensor);
    }

    /// <summary>
    /// Refuses files holding a tensor nothing read (a bias, a layer beyond the config's count, an unknown name):
    /// computing without it would silently be another model. <paramref name="derived"/> names tensors that only
    /// cache what the config already defines (such as RoPE's inv_freq), which may be left unread.
    /// </summary>
    public void CheckEveryTensorRead(Func<string, bool> derived)
    {
        foreach (var (name, e) in _byName.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            if (!_read.Contains(name) && !derived(name))
                throw new ModelFormatException(e.File.Path,
                    $"tensor '{name}' is not part of the model the engine computes (config.json describes none such): refusing to ignore it");
    }

    public long TotalBytes => _byName.Values.Sum(e => e.Tensor.ByteLength);

    public IEnumerable<RawTensor> All => _byName.Values.Select(e => e.Tensor);

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
        _files.Clear();
    }
}
