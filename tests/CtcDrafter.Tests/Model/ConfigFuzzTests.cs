using System.Text.Json.Nodes;
using CtcDrafter.Drafters;
using CtcDrafter.Model;
using CtcDrafter.Tests.Speculative;
using CtcDrafter.Tests.Text;
using CtcDrafter.Text;

namespace CtcDrafter.Tests.Model;

/// <summary>
/// Every field of the three JSON configs the engine reads (a model's config.json, a draft's config.json,
/// tokenizer_config.json) replaced by each JSON type in turn: the file either still loads or is refused with the
/// loader's one error type, naming the file; nothing else escapes (no InvalidOperationException, no crash).
/// </summary>
public class ConfigFuzzTests
{
    static readonly string[] WrongValues =
        ["\"text\"", "-1", "0", "2.5", "1e12", "true", "null", "[]", "[1, \"a\"]", "{}", "{\"content\": 3}"];

    static IEnumerable<(string Field, string Value, JsonObject Edited)> Mutations(JsonObject original)
    {
        foreach (var (field, _) in original)
            foreach (string value in WrongValues)
            {
                var edited = original.DeepClone().AsObject();
                edited[field] = JsonNode.Parse(value);
                yield return (field, value, edited);
            }
    }

    static void AssertLoadsOrRefuses<TError>(string file, string field, string value, Action load) where TError : Exception
    {
        try { load(); }
        catch (TError e)
        {
            string name = Path.GetFileName(file);
            Assert.True(e.Message.Contains(name), $"{field} = {value}: the message does not name {name}: {e.Message}");
        }
        catch (Exception e) { Assert.Fail($"{field} = {value}: {e.GetType().Name} escaped: {e.Message}"); }
    }

    [Fact]
    public void ModelConfig_EveryFieldAsEveryJsonType()
    {
        using var dir = new TempDir();
        string folder = TestModels.Write(dir, TestModels.Small());
        string path = Path.Combine(folder, "config.json");
        var original = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        original["sliding_window"] = 4096;
        original["attention_bias"] = false;
        foreach (var (field, value, edited) in Mutations(original))
        {
            File.WriteAllText(path, edited.ToJsonString());
            AssertLoadsOrRefuses<ModelFormatException>(path, field, value, () => { using var m = TestModels.Load(folder); });
        }
    }

    [Theory]
    [InlineData(DraftKind.Ctc)]
    [InlineData(DraftKind.Medusa)]
    [InlineData(DraftKind.CtcNar)]
    public void DraftConfig_EveryFieldAsEveryJsonType(DraftKind kind)
    {
        using var dir = new TempDir();
        using var model = TestModels.Load(TestModels.Write(dir, TestModels.Small()));
        string draft = TestDrafts.Write(dir.Path, model, kind, kind.HasBlank() ? BlankMode.Own : BlankMode.None);
        string path = Path.Combine(draft, "config.json");
        var original = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        foreach (var (field, value, edited) in Mutations(original))
        {
            File.WriteAllText(path, edited.ToJsonString());
            AssertLoadsOrRefuses<ModelFormatException>(path, field, value, () => DraftModule.Load(draft, model).Dispose());
        }
    }

    [Fact]
    public void DraftConfig_WrongTypeNamesTheField()
    {
        using var dir = new TempDir();
        using var model = TestModels.Load(TestModels.Write(dir, TestModels.Small()));
        string draft = TestDrafts.Write(dir.Path, model, DraftKind.Eagle);
        string path = Path.Combine(draft, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        config["hidden_size"] = "64";
        File.WriteAllText(path, config.ToJsonString());
        var e = Assert.Throws<ModelFormatException>(() => DraftModule.Load(draft, model));
        Assert.Contains("field 'hidden_size' must be an integer, got \"64\"", e.Message);
    }

    [Fact]
    public void TokenizerConfig_EveryFieldAsEveryJsonType()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["tokenizer.model"], TestFiles.TinySentencePiece("\u2581", "a", "b").Serialize());
        var original = JsonNode.Parse("""
            {"bos_token": {"content": "<s>"}, "eos_token": "</s>", "chat_template": "{{ messages }}",
             "added_tokens_decoder": {"262": {"content": "<pad>", "special": true}}}
            """)!.AsObject();
        string path = Path.Combine(dir.Path, "tokenizer_config.json");
        var mutations = Mutations(original).ToList();
        var decoder = original["added_tokens_decoder"]!["262"]!.AsObject();
        foreach (var (field, value, edited) in Mutations(decoder))
        {
            var whole = original.DeepClone().AsObject();
            whole["added_tokens_decoder"]!["262"] = edited;
            mutations.Add(("added_tokens_decoder.262." + field, value, whole));
        }
        foreach (var (field, value, edited) in mutations)
        {
            File.WriteAllText(path, edited.ToJsonString());
            AssertLoadsOrRefuses<FormatException>(path, field, value, () => TextTokenizer.Load(dir.Path));
        }
    }

    [Theory]
    [InlineData("{\"bos_token\": 5}", "field 'bos_token' must be a string")]
    [InlineData("{\"chat_template\": 5}", "field 'chat_template' must be a string")]
    [InlineData("{\"added_tokens_decoder\": {\"262\": {\"content\": \"x\", \"special\": \"yes\"}}}", "field 'added_tokens_decoder.262.special' must be true or false")]
    [InlineData("{\"added_tokens_decoder\": {\"2000000000\": {\"content\": \"x\"}}}", "token id 2000000000 is far past")]
    public void TokenizerConfig_BadFieldIsNamed(string json, string expected)
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["tokenizer.model"], TestFiles.TinySentencePiece("\u2581", "a", "b").Serialize());
        File.WriteAllText(dir["tokenizer_config.json"], json);
        var e = Assert.Throws<FormatException>(() => TextTokenizer.Load(dir.Path));
        Assert.Contains(expected, e.Message);
    }
}
