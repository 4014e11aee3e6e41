using System.Text.Json.Nodes;

namespace CtcDrafter.Model;

/// <summary>
/// A sharded checkpoint's index (<c>model.safetensors.index.json</c>, <c>pytorch_model.bin.index.json</c>): its
/// <c>weight_map</c> names each tensor's shard, a plain file name in the index's folder.
/// </summary>
internal static class ShardIndex
{
    /// <summary>The shard files the index names, each once, in name order.</summary>
    public static IReadOnlyList<string> Files(string index)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(index)); }
        catch (System.Text.Json.JsonException e) { throw new ModelFormatException(index, $"not valid JSON ({e.Message})"); }
        if (root?["weight_map"] is not JsonObject map) throw new ModelFormatException(index, "no 'weight_map' object");
        var files = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var kv in map)
        {
            string file = kv.Value is JsonValue v && v.TryGetValue(out string? f) ? f : throw new ModelFormatException(index, $"no file for '{kv.Key}'");
            if (file.Contains('/') || file.Contains('\\') || file is "." or "..") throw new ModelFormatException(index, $"shard name '{file}' must be a plain file name");
            files.Add(file);
        }
        string folder = Path.GetDirectoryName(Path.GetFullPath(index))!;
        return [.. files.Select(f => Path.Combine(folder, f))];
    }
}
