using System.Buffers.Binary;
using System.Text;

namespace CtcDrafter.Model;

/// <summary>
/// Reads the <c>data.pkl</c> of a <c>torch.save</c> zip: a pickle of a (possibly ordered) dict from names to tensors.
/// Only the opcodes torch.save writes are understood, and the only callables are names from an allow-list, each
/// mapped to a record here: <c>torch._utils._rebuild_tensor_v2</c>, <c>collections.OrderedDict</c> and the float
/// storage types. Nothing from the file is ever executed or constructed by name; any other global or opcode is
/// refused, naming it.
/// </summary>
internal static class TorchPickle
{
    /// <summary>A storage of the zip (<c>data/KEY</c>): its element type and element count.</summary>
    public sealed record Storage(string Key, TensorDType DType, long Elements);

    /// <summary>
    /// A tensor: element [i0, i1, ...] is element <paramref name="Offset"/> + sum(i_k * Strides[k]) of
    /// <paramref name="Storage"/> (a transposed or sliced view saves its strides; several tensors may share one storage).
    /// </summary>
    public sealed record Tensor(Storage Storage, long Offset, int[] Shape, long[] Strides)
    {
        /// <summary>Whether the elements lie in row-major order from <see cref="Offset"/> (the view is the tensor).</summary>
        public bool Contiguous
        {
            get
            {
                long expected = 1;
                for (int i = Shape.Length - 1; i >= 0; i--)
                {
                    if (Shape[i] != 1 && Strides[i] != expected) return false;
                    expected *= Shape[i];
                }
                return true;
            }
        }
    }

    sealed record Global(string Name);
    sealed record StorageType(TensorDType DType);

    static readonly Dictionary<string, object> Allowed = new(StringComparer.Ordinal)
    {
        ["torch._utils._rebuild_tensor_v2"] = new Global("_rebuild_tensor_v2"),
        ["collections.OrderedDict"] = new Global("OrderedDict"),
        ["torch.FloatStorage"] = new StorageType(TensorDType.F32),
        ["torch.HalfStorage"] = new StorageType(TensorDType.F16),
        ["torch.BFloat16Storage"] = new StorageType(TensorDType.BF16),
        ["torch.LongStorage"] = new StorageType(TensorDType.I64),
        ["torch.BoolStorage"] = new StorageType(TensorDType.BOOL),
    };

    /// <summary>The name-to-tensor dict of a state-dict pickle; <paramref name="path"/> names the file in messages.</summary>
    public static Dictionary<string, Tensor> ReadStateDict(ReadOnlySpan<byte> pickle, string path)
    {
        object? top = Run(pickle, path);
        if (top is not Dictionary<object, object?> dict)
            throw new ModelFormatException(path, $"the pickle holds a {Describe(top)}, not a state dict of tensors");
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (key, value) in dict)
            tensors[key as string ?? throw new ModelFormatException(path, $"state dict key {Describe(key)} is not a string")] =
                value as Tensor ?? throw new ModelFormatException(path, $"state dict entry '{key}' is a {Describe(value)}, not a tensor");
        return tensors;
    }

    static object? Run(ReadOnlySpan<byte> p, string path)
    {
        var stack = new List<object?>();
        var marks = new Stack<int>();
        var memo = new Dictionary<long, object?>();
        int pos = 0;
        ModelFormatException Bad(string problem) => new(path, $"pickle byte {pos}: {problem}");
        ReadOnlySpan<byte> Take(ReadOnlySpan<byte> data, long n)
        {
            if (n < 0 || n > data.Length - pos) throw Bad("truncated");
            var s = data.Slice(pos, (int)n);
            pos += (int)n;
            return s;
        }
        object? Pop()
        {
            if (stack.Count == 0 || (marks.Count > 0 && stack.Count <= marks.Peek())) throw Bad("stack underflow");
            object? v = stack[^1];
            stack.RemoveAt(stack.Count - 1);
            return v;
        }
        List<object?> PopToMark()
        {
            if (marks.Count == 0) throw Bad("no MARK");
            int m = marks.Pop();
            var items = stack.GetRange(m, stack.Count - m);
            stack.RemoveRange(m, stack.Count - m);
            return items;
        }
        object? Top() => stack.Count > 0 ? stack[^1] : throw Bad("empty stack");
        string Utf8(ReadOnlySpan<byte> s)
        {
            try { return new UTF8Encoding(false, true).GetString(s); }
            catch (DecoderFallbackException) { throw Bad("a string is not valid UTF-8"); }
        }
        void SetItems(List<object?> kv)
        {
            if (kv.Count % 2 != 0 || Pop() is not Dictionary<object, object?> d) throw Bad("SETITEMS without a dict and key-value pairs");
            for (int i = 0; i < kv.Count; i += 2) d[kv[i] ?? throw Bad("a dict key is None")] = kv[i + 1];
            stack.Add(d);
        }

        while (true)
        {
            if (pos >= p.Length) throw Bad("truncated (no STOP)");
            byte op = p[pos++];
            switch (op)
            {
                case 0x80: Take(p, 1); break;                                       // PROTO
                case 0x95: Take(p, 8); break;                                       // FRAME
                case 0x7d: stack.Add(new Dictionary<object, object?>()); break;     // EMPTY_DICT
                case 0x29: stack.Add(Array.Empty<object?>()); break;                // EMPTY_TUPLE
                case 0x28: marks.Push(stack.Count); break;                          // MARK
                case 0x58: stack.Add(Utf8(Take(p, BinaryPrimitives.ReadUInt32LittleEndian(Take(p, 4))))); break; // BINUNICODE
                case 0x8c: stack.Add(Utf8(Take(p, Take(p, 1)[0]))); break;          // SHORT_BINUNICODE
                case 0x71: memo[Take(p, 1)[0]] = Top(); break;                      // BINPUT
                case 0x72: memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(p, 4))] = Top(); break; // LONG_BINPUT
                case 0x94: memo[memo.Count] = Top(); break;                         // MEMOIZE
                case 0x68: stack.Add(Memo(memo, Take(p, 1)[0], Bad)); break;        // BINGET
                case 0x6a: stack.Add(Memo(memo, BinaryPrimitives.ReadUInt32LittleEndian(Take(p, 4)), Bad)); break; // LONG_BINGET
                case 0x63:                                                          // GLOBAL "module\nname\n"
                {
                    int end1 = p[pos..].IndexOf((byte)'\n');
                    if (end1 < 0) throw Bad("truncated GLOBAL");
                    string module = Utf8(Take(p, end1));
                    pos++;
                    int end2 = p[pos..].IndexOf((byte)'\n');
                    if (end2 < 0) throw Bad("truncated GLOBAL");
                    string name = Utf8(Take(p, end2));
                    pos++;
                    stack.Add(Lookup(module, name, path));
                    break;
                }
                case 0x93:                                                          // STACK_GLOBAL
                {
                    object? name = Pop(), module = Pop();
                    if (module is not string m || name is not string n) throw Bad("STACK_GLOBAL without two strings");
                    stack.Add(Lookup(m, n, path));
                    break;
                }
                case 0x51: stack.Add(PersistentStorage(Pop(), Bad)); break;         // BINPERSID
                case 0x74: stack.Add(PopToMark().ToArray()); break;                 // TUPLE
                case 0x85: stack.Add(new[] { Pop() }); break;                       // TUPLE1
                case 0x86: { object? b = Pop(), a = Pop(); stack.Add(new[] { a, b }); break; }          // TUPLE2
                case 0x87: { object? c = Pop(), b = Pop(), a = Pop(); stack.Add(new[] { a, b, c }); break; } // TUPLE3
                case 0x4a: stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(Take(p, 4))); break; // BININT
                case 0x4b: stack.Add((long)Take(p, 1)[0]); break;                   // BININT1
                case 0x4d: stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(p, 2))); break; // BININT2
                case 0x8a:                                                          // LONG1: little-endian two's complement
                {
                    var b = Take(p, Take(p, 1)[0]);
                    if (b.Length > 8) throw Bad("an integer beyond 64 bits");
                    long v = 0;
                    for (int i = b.Length - 1; i >= 0; i--) v = (v << 8) | b[i];
                    if (b.Length is > 0 and < 8 && (b[^1] & 0x80) != 0) v -= 1L << (8 * b.Length);
                    stack.Add(v);
                    break;
                }
                case 0x88: stack.Add(true); break;                                  // NEWTRUE
                case 0x89: stack.Add(false); break;                                 // NEWFALSE
                case 0x4e: stack.Add(null); break;                                  // NONE
                case 0x52:                                                          // REDUCE
                {
                    object? args = Pop(), f = Pop();
                    if (f is not Global g || args is not object?[] a) throw Bad($"REDUCE of a {Describe(f)}: only allowed functions are called");
                    stack.Add(g.Name == "OrderedDict" ? OrderedDict(a, Bad) : RebuildTensor(a, Bad));
                    break;
                }
                case 0x73: { object? v = Pop(), k = Pop(); SetItems([k, v]); break; } // SETITEM
                case 0x75: SetItems(PopToMark()); break;                            // SETITEMS
                case 0x62:                                                          // BUILD: a state dict's _metadata, dropped
                {
                    object? state = Pop();
                    if (Top() is not Dictionary<object, object?> || state is not (null or Dictionary<object, object?>))
                        throw Bad($"BUILD of a {Describe(Top())} with a {Describe(state)}: only a dict's attributes are accepted");
                    break;
                }
                case 0x2e:                                                          // STOP
                    if (stack.Count != 1 || marks.Count != 0) throw Bad("STOP with a malformed stack");
                    return stack[0];
                default:
                    throw Bad($"opcode 0x{op:x2} ('{(op is >= 0x20 and < 0x7f ? (char)op : '?')}') is not one torch.save writes: refusing the file");
            }
        }
    }

    static object? Memo(Dictionary<long, object?> memo, long key, Func<string, ModelFormatException> bad) =>
        memo.TryGetValue(key, out object? v) ? v : throw bad($"memo entry {key} was never stored");

    static object Lookup(string module, string name, string path) =>
        Allowed.TryGetValue($"{module}.{name}", out object? g) ? g
            : throw new ModelFormatException(path, $"the pickle refers to '{module}.{name}', which is not allowed (only torch._utils._rebuild_tensor_v2, " +
                "torch.FloatStorage/HalfStorage/BFloat16Storage/LongStorage/BoolStorage and collections.OrderedDict): refusing the file, nothing in it was run");

    /// <summary>torch.save's persistent id of a storage: ('storage', type, key, location, elements).</summary>
    static Storage PersistentStorage(object? pid, Func<string, ModelFormatException> bad) =>
        pid is object?[] { Length: 5 } t && t[0] is "storage" && t[1] is StorageType type && t[2] is string key && t[3] is string && t[4] is long n && n >= 0
            ? new Storage(key, type.DType, n)
            : throw bad($"persistent id {Describe(pid)} is not a torch storage reference");

    static Dictionary<object, object?> OrderedDict(object?[] args, Func<string, ModelFormatException> bad) =>
        args.Length == 0 ? new Dictionary<object, object?>() : throw bad("OrderedDict called with arguments");

    /// <summary>_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks[, metadata]): a view whose every element lies in its storage.</summary>
    static Tensor RebuildTensor(object?[] a, Func<string, ModelFormatException> bad)
    {
        if (a.Length is < 6 or > 7 || a[0] is not Storage s || a[1] is not long offset || a[2] is not object?[] size || a[3] is not object?[] stride
            || size.Length != stride.Length || size.Any(d => d is not long) || stride.Any(d => d is not long))
            throw bad("_rebuild_tensor_v2 with arguments other than (storage, offset, size, stride, ...)");
        long[] dims = size.Cast<long>().ToArray(), strides = stride.Cast<long>().ToArray();
        if (dims.Any(d => d is < 0 or > int.MaxValue)) throw bad($"tensor size [{string.Join(", ", dims)}] out of range");
        if (strides.Any(d => d is < 0 or > int.MaxValue)) throw bad($"tensor strides [{string.Join(", ", strides)}] out of range");
        // The last element a view reads: offset + sum((size - 1) * stride); an empty tensor reads none.
        long last = offset;
        for (int i = 0; i < dims.Length; i++) last += (dims[i] - 1) * strides[i];
        if (offset < 0 || (dims.All(d => d > 0) && last >= s.Elements))
            throw bad($"tensor [{string.Join(", ", dims)}] with strides [{string.Join(", ", strides)}] at element {offset} reads past its storage of {s.Elements} elements");
        return new Tensor(s, offset, dims.Select(d => (int)d).ToArray(), strides);
    }

    static string Describe(object? o) => o switch
    {
        null => "None",
        string s => $"string '{s}'",
        long v => $"integer {v}",
        object?[] t => $"tuple of {t.Length}",
        Dictionary<object, object?> => "dict",
        Tensor => "tensor",
        Storage => "storage",
        _ => o.GetType().Name,
    };
}
