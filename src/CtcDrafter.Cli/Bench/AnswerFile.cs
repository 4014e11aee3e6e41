using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace CtcDrafter.Cli.Bench;

/// <summary>
/// One method's answers to a suite in the answer schema of FastChat's gen_model_answer as Spec-Bench extends it
/// (evaluation/eval.py), so that Spec-Bench's evaluation/speed.py and FastChat's judges read them.
/// </summary>
static class AnswerFile
{
    // Answers are read by people too: "+" and non-ASCII text stay as they are (JSON still escapes what it must).
    static readonly JsonSerializerOptions Readable = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// One JSON line per prompt: question_id (the prompt id), category, answer_id, model_id (the model folder's name
    /// and the method, <c>ref-s-prompt-lookup</c>), tstamp (Unix seconds when the file was made) and one choice
    /// holding per turn the answer text (trimmed), decoding_steps (base forward passes after prefill), new_tokens
    /// and wall_time (seconds, prefill and decoding); accept_lengths lists, over the turns in order, the tokens each
    /// step committed: its accepted draft tokens and the base model's own token, as Spec-Bench counts them.
    /// </summary>
    public static IEnumerable<string> Lines(string model, string method, IReadOnlyList<List<MethodRun>> rows)
    {
        string modelId = $"{Path.GetFileName(Path.TrimEndingDirectorySeparator(model))}-{method}";
        double tstamp = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        foreach (MethodRun r in rows.Select(row => row.First(x => x.Method == method)))
        {
            var choice = new JsonObject
            {
                ["index"] = 0,
                ["turns"] = Array(r.Turns.Select(t => (JsonNode)t.Text.Trim())),
                ["decoding_steps"] = Array(r.Turns.Select(t => (JsonNode)t.Stats.Steps)),
                ["new_tokens"] = Array(r.Turns.Select(t => (JsonNode)t.Stats.NewTokens)),
                ["wall_time"] = Array(r.Turns.Select(t => (JsonNode)Math.Round((t.Stats.PrefillMs + t.Stats.DecodeMs) / 1000, 6))),
                ["accept_lengths"] = Array(r.Turns.SelectMany(t => t.Stats.AcceptedPerStep).Select(a => (JsonNode)(a + 1))),
            };
            yield return new JsonObject
            {
                ["question_id"] = QuestionId(r.Prompt.Id), ["category"] = r.Prompt.Category, ["answer_id"] = Guid.NewGuid().ToString("N"),
                ["model_id"] = modelId, ["choices"] = new JsonArray(choice), ["tstamp"] = tstamp,
            }.ToJsonString(Readable);
        }
    }

    static JsonArray Array(IEnumerable<JsonNode> items) => new([.. items]);

    /// <summary>MT-bench's question ids are numbers; they stay numbers, other ids strings.</summary>
    static JsonNode QuestionId(string id) => long.TryParse(id, out long n) ? (JsonNode)n : id;
}
