using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace CtcDrafter.Training.Distill;

/// <summary>
/// A distillation folder (format in docs/TRAINING.md): <c>index.json</c> (the <see cref="DistillHeader"/>, the shard
/// files and every sample's id, source, shard, byte offset, length, prompt length and finish reason) and shards
/// <c>shard-NNNNN.bin</c> of records laid end to end, each
/// <c>int32 tokens[length] | uint8 mask[length], zero-padded to a multiple of 4 | bf16 hidden[length, hidden_size]</c>,
/// little-endian. Shards are immutable: new samples gather in memory and go to a new shard when it reaches its
/// target size or when <see cref="Flush"/> is called; the shard is written under a temporary name and renamed, then
/// the index likewise, so a killed run leaves the previous consistent state and a rerun skips the stored samples.
/// </summary>
internal sealed class DistillStore
{
    public const string IndexFile = "index.json";
    const string Format = "ctcdrafter-distill";
    const int Version = 1;

    readonly string _folder;
    readonly List<string> _shards;
    readonly List<JsonObject> _entries;
    readonly HashSet<string> _ids;
    readonly List<DistillSample> _pending = [];

    DistillStore(string folder, DistillHeader header, List<string> shards, List<JsonObject> entries)
    {
        (_folder, Header, _shards, _entries) = (folder, header, shards, entries);
        _ids = entries.Select(e => e["id"]!.GetValue<string>()).ToHashSet(StringComparer.Ordinal);
    }

    public DistillHeader Header { get; }

    /// <summary>Samples stored on disk (not counting pending ones).</summary>
    public int StoredSamples => _entries.Count;

    /// <summary>Bytes of the samples not yet written to a shard.</summary>
    public long PendingBytes => _pending.Sum(s => RecordBytes(s.Length, Header.HiddenSize));

    public bool Contains(string id) => _ids.Contains(id);

    static long RecordBytes(int length, int hidden) => 4L * length + Pad4(length) + 2L * length * hidden;

    static int Pad4(int n) => (n + 3) / 4 * 4;

    /// <summary>Opens a folder to add samples, creating it when needed; an existing folder must hold data of the same header.</summary>
    public static DistillStore OpenForWriting(string folder, DistillHeader header)
    {
        try
        {
            Directory.CreateDirectory(folder);
            string probe = Path.Combine(folder, $".write-test-{Guid.NewGuid():N}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrainingInputException($"cannot write to the distillation folder {Path.GetFullPath(folder)}: {e.Message}");
        }
        if (!File.Exists(Path.Combine(folder, IndexFile)))
        {
            if (Directory.EnumerateFileSystemEntries(folder).Any(p => !Path.GetFileName(p).StartsWith("shard-", StringComparison.Ordinal)))
                throw new TrainingInputException($"{Path.GetFullPath(folder)} is not empty and holds no {IndexFile}: pass another --out");
            RemoveOrphans(folder, []);
            return new DistillStore(folder, header, [], []);
        }
        var (stored, shards, entries) = ReadIndex(folder);
        if (stored.Base.ConfigHash != header.Base.ConfigHash || stored.Base.LmHeadHash != header.Base.LmHeadHash)
            throw new TrainingInputException($"{Path.Combine(folder, IndexFile)}: this folder holds data distilled from base model " +
                $"'{stored.Base.Name}', not from '{header.Base.Name}': pass another --out");
        if (stored != header with { Base = stored.Base })
            throw new TrainingInputException($"{Path.Combine(folder, IndexFile)}: this folder holds data made with other settings " +
                $"(max_new_tokens {stored.MaxNewTokens}, max_prompt_tokens {stored.MaxPromptTokens}, template {stored.Template}): " +
                "pass the same settings or another --out");
        RemoveOrphans(folder, shards);
        return new DistillStore(folder, stored, shards, entries);
    }

    /// <summary>Removes temporary files and shards the index does not list (left by a killed run).</summary>
    static void RemoveOrphans(string folder, List<string> shards)
    {
        foreach (string path in Directory.GetFiles(folder))
        {
            string name = Path.GetFileName(path);
            if (name.EndsWith(".tmp", StringComparison.Ordinal) || (name.StartsWith("shard-", StringComparison.Ordinal) && !shards.Contains(name)))
                File.Delete(path);
        }
    }

    /// <summary>Adds a sample; it reaches the disk with the next shard.</summary>
    public void Add(DistillSample sample)
    {
        if (sample.Hidden.Length != (long)sample.Length * Header.HiddenSize || sample.Mask.Length != sample.Length)
            throw new ArgumentException($"sample {sample.Id}: shapes do not match {sample.Length} tokens of hidden size {Header.HiddenSize}");
        if (!_ids.Add(sample.Id)) throw new ArgumentException($"sample {sample.Id} is already stored");
        _pending.Add(sample);
    }

    /// <summary>Writes the pending samples as a new shard, then the index.</summary>
    public void Flush()
    {
        if (_pending.Count == 0) return;
        string name = $"shard-{_shards.Count:D5}.bin";
        string path = Path.Combine(_folder, name);
        var entries = new List<JsonObject>();
        try
        {
            using (var file = new FileStream(path + ".tmp", FileMode.Create, FileAccess.Write))
            {
                long offset = 0;
                foreach (var s in _pending)
                {
                    entries.Add(new JsonObject
                    {
                        ["id"] = s.Id, ["source"] = s.Source, ["shard"] = _shards.Count, ["offset"] = offset, ["length"] = s.Length,
                        ["prompt_length"] = s.PromptTokens, ["finish"] = s.Finish,
                    });
                    WriteRecord(file, s);
                    offset += RecordBytes(s.Length, Header.HiddenSize);
                }
                file.Flush(flushToDisk: true);
            }
            File.Move(path + ".tmp", path, overwrite: true);
            _shards.Add(name);
            _entries.AddRange(entries);
            WriteIndex();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrainingInputException($"cannot write {path}: {e.Message}");
        }
        _pending.Clear();
    }

    static void WriteRecord(Stream file, DistillSample s)
    {
        file.Write(MemoryMarshal.AsBytes(s.Tokens.AsSpan()));
        file.Write(s.Mask);
        for (int i = s.Length; i < Pad4(s.Length); i++) file.WriteByte(0);
        file.Write(MemoryMarshal.AsBytes(s.Hidden.AsSpan()));
    }

    void WriteIndex()
    {
        var index = new JsonObject { ["format"] = Format, ["version"] = Version };
        foreach (var (key, value) in Header.ToJson()) index[key] = value?.DeepClone();
        index["shards"] = new JsonArray([.. _shards.Select(s => JsonValue.Create(s))]);
        index["samples"] = new JsonArray([.. _entries.Select(e => e.DeepClone())]);
        string path = Path.Combine(_folder, IndexFile);
        File.WriteAllText(path + ".tmp", index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Move(path + ".tmp", path, overwrite: true);
    }

    static (DistillHeader Header, List<string> Shards, List<JsonObject> Entries) ReadIndex(string folder)
    {
        string path = Path.Combine(folder, IndexFile);
        try
        {
            if (JsonNode.Parse(File.ReadAllText(path)) is not JsonObject o || o["format"]?.GetValue<string>() != Format)
                throw new TrainingInputException($"{path}: not a distillation index (no \"format\": \"{Format}\")");
            if (o["version"]?.GetValue<int>() != Version) throw new TrainingInputException($"{path}: unsupported version {o["version"]}");
            var shards = (o["shards"] as JsonArray ?? throw new TrainingInputException($"{path}: no 'shards' array"))
                .Select(n => n!.GetValue<string>()).ToList();
            var entries = (o["samples"] as JsonArray ?? throw new TrainingInputException($"{path}: no 'samples' array"))
                .Select(n => n as JsonObject ?? throw new TrainingInputException($"{path}: a sample is not an object")).ToList();
            return (DistillHeader.FromJson(o, path), shards, entries);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or NullReferenceException)
        {
            throw new TrainingInputException($"{path}: malformed ({e.Message})");
        }
    }

    /// <summary>Reads a whole distillation folder into memory.</summary>
    public static (DistillHeader Header, List<DistillSample> Samples) Read(string folder)
    {
        string path = Path.Combine(folder, IndexFile);
        if (!Directory.Exists(folder)) throw new TrainingInputException($"distillation folder not found: {Path.GetFullPath(folder)}");
        if (!File.Exists(path))
            throw new TrainingInputException($"{path}: not found (make the data with `ctcdrafter-train distill --model BASE --out {folder}`)");
        var (header, shards, entries) = ReadIndex(folder);
        var samples = new List<DistillSample>(entries.Count);
        var data = new Dictionary<int, byte[]>();
        foreach (var e in entries)
        {
            string id = e["id"]?.GetValue<string>() ?? "?";
            try
            {
                int shard = e["shard"]!.GetValue<int>(), length = e["length"]!.GetValue<int>();
                long offset = e["offset"]!.GetValue<long>();
                if (!data.TryGetValue(shard, out byte[]? bytes))
                {
                    string file = Path.Combine(folder, shards[shard]);
                    if (!File.Exists(file)) throw new TrainingInputException($"{file}: missing (listed in {path})");
                    data[shard] = bytes = File.ReadAllBytes(file);
                }
                long size = RecordBytes(length, header.HiddenSize);
                if (length <= 0 || offset < 0 || offset + size > bytes.Length)
                    throw new TrainingInputException($"{Path.Combine(folder, shards[shard])}: sample {id} lies outside the file (truncated shard?)");
                var record = bytes.AsSpan((int)offset, (int)size);
                int[] tokens = MemoryMarshal.Cast<byte, int>(record[..(4 * length)]).ToArray();
                byte[] mask = record.Slice(4 * length, length).ToArray();
                ushort[] hidden = MemoryMarshal.Cast<byte, ushort>(record[(4 * length + Pad4(length))..]).ToArray();
                if (tokens.Any(t => (uint)t >= (uint)header.VocabSize))
                    throw new TrainingInputException($"{Path.Combine(folder, shards[shard])}: sample {id} holds a token id outside the vocabulary (corrupt shard?)");
                samples.Add(new DistillSample(id, e["source"]!.GetValue<string>(), tokens, mask, hidden, e["finish"]!.GetValue<string>()));
            }
            catch (Exception x) when (x is InvalidOperationException or NullReferenceException or ArgumentOutOfRangeException or FormatException)
            {
                throw new TrainingInputException($"{path}: malformed entry for sample {id} ({x.Message})");
            }
        }
        return (header, samples);
    }
}
