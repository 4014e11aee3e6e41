using System.Text.Json;
using CtcDrafter.Model;

namespace CtcDrafter.Drafters;

/// <summary>Writes a draft folder (config.json + model.safetensors, and any text files such as a card) in full or not at all.</summary>
internal static class DraftWriter
{
    public static void Write(string folder, DraftConfig config, IReadOnlyList<SafeTensorsWriter.Entry> tensors,
        IReadOnlyDictionary<string, string>? textFiles = null)
    {
        FolderWriter.Write(folder, replace: true, tmp =>
        {
            SafeTensorsWriter.Write(Path.Combine(tmp, "model.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt" });
            File.WriteAllText(Path.Combine(tmp, "config.json"), config.ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            foreach (var (name, text) in textFiles ?? new Dictionary<string, string>()) File.WriteAllText(Path.Combine(tmp, name), text);
        });
    }
}
