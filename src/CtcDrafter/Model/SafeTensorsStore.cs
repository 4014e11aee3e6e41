namespace CtcDrafter.Model;

/// <summary>The tensors of a model folder: <c>model.safetensors</c>, or the shards listed by
/// <c>model.safetensors.index.json</c>, or every <c>*.safetensors</c> file; or one named file.</summary>
internal sealed class SafeTensorsStore : TensorStore
{
    readonly List<SafeTensorsFile> _files = [];
    readonly Dictionary<string, SafeTensorsFile> _fileOf = new(StringComparer.Ordinal);

    /// <param name="file">The one file to read, or null for the folder's model files.</param>
    public SafeTensorsStore(string folder, string? file = null) : base(file ?? folder)
    {
        Folder = folder;
        try { OpenFiles(file); }
        catch { Dispose(); throw; }
    }

    string Folder { get; }

    void OpenFiles(string? file)
    {
        string single = Path.Combine(Folder, "model.safetensors"), index = Path.Combine(Folder, "model.safetensors.index.json");
        IEnumerable<string> shards;
        if (file is not null) shards = [file];
        else if (File.Exists(index)) shards = ShardIndex.Files(index);
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
            {
                Add(name, t, shard);
                _fileOf[name] = f;
            }
        }
    }

    public override void Release(string name)
    {
        if (_fileOf.TryGetValue(name, out var f) && TryGetEntry(name, out RawTensor t)) f.Release(t);
    }

    public override void Dispose()
    {
        foreach (var f in _files) f.Dispose();
        _files.Clear();
    }
}
