using System.CommandLine;
using System.Text.Json.Nodes;
using CtcDrafter.Text;

namespace CtcDrafter.Cli.Commands;

/// <summary><c>ctcdrafter tokenize</c>: print the token ids of a text.</summary>
static class TokenizeCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "model folder whose tokenizer to use" };
        var file = new Option<string?>("--tokenizer") { Description = "tokenizer file (tokenizer.model or tokenizer.json)" };
        var noBos = new Option<bool>("--no-bos") { Description = "do not prepend the BOS token" };
        var json = new Option<bool>("--json") { Description = "print a JSON array" };
        var special = new Option<bool>("--special") { Description = "encode special-token texts (</s>, <|im_start|>) as their ids instead of as text" };
        var text = new Argument<string>("text") { Description = "the text, or - to read standard input" };
        var cmd = new Command("tokenize", "Print the token ids of a text.") { model, file, noBos, json, special, text };
        cmd.SetAction(r =>
        {
            string? path = r.GetValue(file) ?? r.GetValue(model);
            if (path is null) throw new ArgumentException("give --model DIR or --tokenizer FILE");
            if (r.GetValue(file) is not null && r.GetValue(model) is not null) throw new ArgumentException("give --model or --tokenizer, not both");
            if (!File.Exists(path) && !Directory.Exists(path)) throw new FileNotFoundException($"{path}: not found");
            TextTokenizer tok = TextTokenizer.Load(path);
            string input = r.GetValue(text)!;
            if (input == "-") input = Console.In.ReadToEnd();
            IReadOnlyList<int> ids = tok.Encode(input, addBos: !r.GetValue(noBos), parseSpecial: r.GetValue(special));
            Console.WriteLine(r.GetValue(json)
                ? new JsonArray(ids.Select(i => (JsonNode)i).ToArray()).ToJsonString()
                : string.Join(' ', ids));
            return 0;
        });
        return cmd;
    }
}
