using CtcDrafter.Drafters;

namespace CtcDrafter.Cli.Commands;

/// <summary>
/// The <c>--draft</c> option: one trained draft folder for every method that needs one, or one per method,
/// <c>ctc=DIR,eagle=DIR,medusa=DIR</c>; without it a method uses the model's own <c>draft-KIND</c> folder.
/// </summary>
sealed class DraftFolders
{
    readonly string? _all;
    readonly Dictionary<string, string> _byMethod = [];

    DraftFolders(string? all) => _all = all;

    public const string Description = "trained draft folder for medusa, eagle, eagle3, eagle3-ctc, ctc and ctc-nar, or one per method: ctc=DIR,eagle=DIR,eagle3=DIR,medusa=DIR,... (default: MODEL/draft-KIND)";

    public static DraftFolders Parse(string? value)
    {
        if (value is null) return new DraftFolders(null);
        var parts = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        bool IsPair(string p) => p.IndexOf('=') is int i and > 0 && DrafterFactory.Methods.Contains(p[..i]);
        if (!parts.Any(IsPair)) return new DraftFolders(value);
        var folders = new DraftFolders(null);
        foreach (string part in parts)
        {
            if (!IsPair(part)) throw new ArgumentException($"--draft '{part}' is not METHOD=DIR (methods: {string.Join(", ", DrafterFactory.Methods.Where(m => DrafterFactory.TrainedKind(m) is not null))})");
            int i = part.IndexOf('=');
            if (!folders._byMethod.TryAdd(part[..i], part[(i + 1)..])) throw new ArgumentException($"--draft names {part[..i]} twice");
        }
        return folders;
    }

    /// <summary>
    /// The draft folder for <paramref name="method"/>: the one given, else <c>MODEL/draft-KIND</c> when it exists;
    /// null for methods that need none. A method that needs one and finds none is an error naming the folder looked for.
    /// </summary>
    public string? For(string method, string modelFolder)
    {
        string? given = _byMethod.TryGetValue(method, out string? folder)
            || DrafterFactory.TrainedKind(method) is string k && _byMethod.TryGetValue(k, out folder) ? folder : _all;
        if (given is not null || DrafterFactory.TrainedKind(method) is not string kind) return given;
        string found = Path.Combine(modelFolder, "draft-" + kind);
        return Directory.Exists(found) ? found
            : throw new ArgumentException($"method '{method}' needs a trained draft: give --draft DIR (looked for {found}, which does not exist)");
    }
}
