using CtcDrafter.Kernels;

namespace CtcDrafter.Model;

/// <summary>
/// The tensors of a model under their Hugging Face names, from a folder of safetensors files
/// (<see cref="SafeTensorsStore"/>) or a GGUF file (<see cref="GgufStore"/>). Owns the memory maps; tensors stay
/// valid until disposal. Every tensor must be read by the model, or it is refused (<see cref="CheckEveryTensorRead"/>).
/// </summary>
internal abstract class TensorStore : IDisposable
{
    readonly Dictionary<string, (RawTensor Tensor, string File)> _byName = new(StringComparer.Ordinal);
    readonly HashSet<string> _read = new(StringComparer.Ordinal);

    /// <summary>The folder or file the tensors come from.</summary>
    public string Source { get; }

    private protected TensorStore(string source) => Source = source;

    /// <summary>The tensors of a safetensors folder (draft folders included).</summary>
    public static TensorStore Open(string folder) => new SafeTensorsStore(folder);

    private protected void Add(string name, RawTensor tensor, string file)
    {
        if (!_byName.TryAdd(name, (tensor, file)))
            throw new ModelFormatException(file, $"tensor '{name}' also appears in {_byName[name].File}");
    }

    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The shape of a tensor as the file has it, or null when there is none of that name.</summary>
    public int[]? ShapeOf(string name) => _byName.TryGetValue(name, out var e) ? e.Tensor.Shape : null;

    /// <summary>The tensor, checked to have the expected shape and a weight's type (a float or block type).</summary>
    public RawTensor Get(string name, params int[] shape)
    {
        RawTensor t = Find(name, shape);
        if (t.DType is TensorDType.I64 or TensorDType.BOOL)
            throw new ModelFormatException(_byName[name].File, $"tensor '{Describe(name)}' is {t.DType}: a weight is stored in a float or block type");
        return t;
    }

    RawTensor Find(string name, int[] shape)
    {
        if (!_byName.TryGetValue(name, out var e))
            throw new ModelFormatException(Source, $"tensor '{Describe(name)}' is missing from the model files");
        if (!e.Tensor.Shape.SequenceEqual(shape))
            throw new ModelFormatException(e.File, $"tensor '{Describe(name)}' has shape [{string.Join(", ", e.Tensor.Shape)}], expected [{string.Join(", ", shape)}] from {ConfigSource}");
        _read.Add(name);
        return e.Tensor;
    }

    /// <summary>A 1-D tensor converted to fp32 (norm weights, biases).</summary>
    public float[] GetVector(string name, int length)
    {
        RawTensor t = Get(name, length);
        var v = new float[length];
        Conversions.ReadF32(t, 0, v);
        return v;
    }

    /// <summary>The I64 or BOOL tensor <paramref name="name"/> of <paramref name="length"/> entries, as integers (BOOL: 0 or 1).</summary>
    public unsafe long[] GetIndices(string name, int length)
    {
        RawTensor t = Find(name, [length]);
        var v = new long[length];
        if (t.DType == TensorDType.I64) new ReadOnlySpan<long>(t.Data, length).CopyTo(v);
        else if (t.DType == TensorDType.BOOL) for (int i = 0; i < length; i++) v[i] = t.Data[i] != 0 ? 1 : 0;
        else throw new ModelFormatException(Source, $"tensor '{Describe(name)}' is {t.DType}; an index table is I64 or BOOL");
        return v;
    }

    /// <summary>Where the model's shape comes from, for messages.</summary>
    private protected virtual string ConfigSource => "config.json";

    /// <summary>How a tensor is named in messages: its name in the file (a GGUF store maps names).</summary>
    private protected virtual string Describe(string name) => name;

    /// <summary>Drops the resident pages of a tensor that has been converted (see <see cref="SafeTensorsFile.Release"/>).</summary>
    public abstract void Release(string name);

    private protected bool TryGetEntry(string name, out RawTensor tensor)
    {
        bool found = _byName.TryGetValue(name, out var e);
        tensor = e.Tensor;
        return found;
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
                throw new ModelFormatException(e.File,
                    $"tensor '{Describe(name)}' is not part of the model the engine computes ({ConfigSource} describes none such): refusing to ignore it");
    }

    public long TotalBytes => _byName.Values.Sum(e => e.Tensor.ByteLength);

    public IEnumerable<RawTensor> All => _byName.Values.Select(e => e.Tensor);

    public abstract void Dispose();
}
