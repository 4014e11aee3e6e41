using System.CommandLine;
using CtcDrafter.Model;

namespace CtcDrafter.Cli.Commands;

/// <summary><c>ctcdrafter convert llama2c</c>, <c>convert random</c> and <c>convert gguf</c>.</summary>
static class ConvertCommand
{
    public static Command Create() => new("convert", "Write Hugging Face model folders from other sources, and GGUF files from folders.")
    {
        Llama2C(), Random(), Gguf(),
    };

    static Command Gguf()
    {
        var model = new Option<string>("--model", "-m") { Description = "Hugging Face model folder (llama, SentencePiece vocabulary)", Required = true };
        var output = new Option<string>("--out") { Description = "the .gguf file to write", Required = true };
        var type = new Option<string>("--type") { Description = $"matrix type: {string.Join(", ", GgufExporter.Types)}", DefaultValueFactory = _ => "f32" };
        var cmd = new Command("gguf", "Write a model folder as a GGUF file llama.cpp runs.") { model, output, type };
        cmd.SetAction(r =>
        {
            string path = r.GetValue(output)!;
            if (!path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)) throw new ArgumentException($"--out {path}: the file name must end in .gguf");
            GgufExporter.Export(r.GetValue(model)!, path, r.GetValue(type)!);
            Console.WriteLine($"wrote {path} ({new FileInfo(path).Length / 1e6:F1} MB)");
            return 0;
        });
        return cmd;
    }

    static Command Llama2C()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "llama2.c checkpoint (.bin, legacy format)", Required = true };
        var tokenizer = new Option<string>("--tokenizer") { Description = "llama2.c tokenizer (tokenizer.bin / tok512.bin)", Required = true };
        var output = new Option<string>("--out") { Description = "output folder (must not exist or be empty)", Required = true };
        var dtype = new Option<string>("--file-dtype") { Description = "F32 (exact), BF16 or F16", DefaultValueFactory = _ => "F32" };
        var cmd = new Command("llama2c", "Convert a llama2.c checkpoint and tokenizer to a Hugging Face folder.") { checkpoint, tokenizer, output, dtype };
        cmd.SetAction(r =>
        {
            ModelConfig c = Llama2CConverter.Convert(r.GetValue(checkpoint)!, r.GetValue(tokenizer)!, r.GetValue(output)!, r.GetValue(dtype)!.ToUpperInvariant());
            Console.WriteLine($"wrote {r.GetValue(output)}: {c.NumLayers} layers, hidden {c.HiddenSize}, vocabulary {c.VocabSize}, {c.ParameterCount:N0} parameters");
            return 0;
        });
        return cmd;
    }

    static Command Random()
    {
        var output = new Option<string>("--out") { Description = "output folder", Required = true };
        var hidden = new Option<int>("--hidden") { DefaultValueFactory = _ => 2048 };
        var ffn = new Option<int>("--ffn") { DefaultValueFactory = _ => 5632 };
        var layers = new Option<int>("--layers") { DefaultValueFactory = _ => 4 };
        var heads = new Option<int>("--heads") { DefaultValueFactory = _ => 32 };
        var kvHeads = new Option<int>("--kv-heads") { DefaultValueFactory = _ => 4 };
        var vocab = new Option<int>("--vocab") { DefaultValueFactory = _ => 4096 };
        var dtype = new Option<string>("--file-dtype") { Description = "F32, F16 or BF16", DefaultValueFactory = _ => "F32" };
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => 1 };
        var cmd = new Command("random", "Write a model folder with random weights of a given shape (for benchmarks and tests).")
        {
            output, hidden, ffn, layers, heads, kvHeads, vocab, dtype, seed,
        };
        cmd.SetAction(r =>
        {
            string dir = r.GetValue(output)!;
            ModelConfig c = RandomModel.Config(r.GetValue(hidden), r.GetValue(ffn), r.GetValue(layers), r.GetValue(heads), r.GetValue(kvHeads), r.GetValue(vocab));
            RandomModel.Write(dir, c, r.GetValue(dtype)!.ToUpperInvariant(), seed: r.GetValue(seed));
            Console.WriteLine($"wrote {dir}: {c.ParameterCount:N0} parameters");
            return 0;
        });
        return cmd;
    }
}
