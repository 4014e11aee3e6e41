using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace CtcDrafter.Model;

/// <summary>
/// Typed reads of the fields of a JSON config (config.json, a draft's config.json, tokenizer_config.json): an
/// absent or null field reads as null, a field of another JSON type is a <see cref="FormatException"/> naming it.
/// The optional <c>field</c> arguments name nested fields in messages ("added_tokens_decoder.32000.content").
/// </summary>
internal static class JsonFields
{
    public static int RequiredInt(JsonObject o, string name, string? field = null) =>
        Int(o, name, field) ?? throw new FormatException($"required field '{field ?? name}' is missing");

    public static int? Int(JsonObject o, string name, string? field = null) => o[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number && int.TryParse(v.ToJsonString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int i) => i,
        var n => throw new FormatException($"field '{field ?? name}' must be an integer, got {n.ToJsonString()}"),
    };

    public static double? Number(JsonObject o, string name, string? field = null) => o[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => double.Parse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture),
        var n => throw new FormatException($"field '{field ?? name}' must be a number, got {n.ToJsonString()}"),
    };

    public static string? Str(JsonObject o, string name, string? field = null) => o[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        var n => throw new FormatException($"field '{field ?? name}' must be a string, got {n.ToJsonString()}"),
    };

    public static bool? Flag(JsonObject o, string name, string? field = null) => o[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValueKind() == JsonValueKind.True,
        var n => throw new FormatException($"field '{field ?? name}' must be true or false, got {n.ToJsonString()}"),
    };

    /// <summary>A token id or a list of them (<c>eos_token_id</c>).</summary>
    public static IReadOnlyList<int>? IntOrList(JsonObject o, string name)
    {
        int Id(JsonNode? x) => x is JsonValue v && v.GetValueKind() == JsonValueKind.Number
            && int.TryParse(v.ToJsonString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int id) ? id
            : throw new FormatException($"field '{name}' must be a token id or a list of them, got {o[name]!.ToJsonString()}");
        return o[name] switch
        {
            null => null,
            JsonArray a => a.Select(Id).ToArray(),
            var n => [Id(n)],
        };
    }

    /// <summary>A list of integers, or null when absent; anything else is an error naming the field.</summary>
    public static int[]? IntList(JsonObject o, string name) => o[name] switch
    {
        null => null,
        JsonArray a => a.Select(x => x is JsonValue v && v.GetValueKind() == JsonValueKind.Number
            && int.TryParse(v.ToJsonString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int i) ? i
            : throw new FormatException($"field '{name}' must be a list of integers, got {o[name]!.ToJsonString()}")).ToArray(),
        var n => throw new FormatException($"field '{name}' must be a list of integers, got {n.ToJsonString()}"),
    };

    /// <summary>A nested object, or null when absent; another JSON type is an error naming the field.</summary>
    public static JsonObject? Object(JsonObject o, string name, string? field = null) => o[name] switch
    {
        null => null,
        JsonObject x => x,
        var n => throw new FormatException($"field '{field ?? name}' must be an object, got {n.ToJsonString()}"),
    };
}
