using System.CommandLine;
using CtcDrafter.Drafters;
using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Cli.Commands;

/// <summary><c>ctcdrafter convert llama2c</c>, <c>convert random</c>, <c>convert gguf</c> and <c>convert draft</c>.</summary>
static class ConvertCommand
{
    public static Command Create() => new("convert", "Write Hugging Face model folders from other sources, GGUF files from folders, and drafts in and out of the official layouts.")
    {
        Llama2C(), Random(), Gguf(), Draft(),
    };

    static Command Draft()
    {
        var from = new Option<string>("--from") { Description = "import a checkpoint of this layout: eagle, ctc-drafter, medusa or eagle3" };
        var to = new Option<string>("--to") { Description = "export --draft in this official layout: eagle (also for ctc drafts), medusa or eagle3" };
        var checkpoint = new Option<string>("--checkpoint") { Description = "with --from: the checkpoint folder (config.json + model.safetensors, pytorch_model.bin, medusa_lm_head.pt ...) or its weights file" };
        var draft = new Option<string>("--draft") { Description = "with --to: the draft folder to export" };
        var baseModel = new Option<string>("--base") { Description = "the base model folder or .gguf file the draft belongs to", Required = true };
        var output = new Option<string>("--out") { Description = "the folder to write (replaced if it exists)", Required = true };
        var cmd = new Command("draft", "Import an EAGLE-1, CTC-drafter, Medusa-1 or EAGLE-3 checkpoint as a draft folder bound to its base, or export a draft folder in the official layout.")
        {
            from, to, checkpoint, draft, baseModel, output,
        };
        cmd.SetAction(r =>
        {
            string? layout = r.GetValue(from), target = r.GetValue(to), outDir = r.GetValue(output)!;
            if ((layout is null) == (target is null)) throw new ArgumentException("give one of --from LAYOUT (import) and --to LAYOUT (export)");
            string source = (layout is null ? r.GetValue(draft) : r.GetValue(checkpoint))
                ?? throw new ArgumentException(layout is null ? "--to needs --draft DIR" : "--from needs --checkpoint DIR");
            using var b = LlamaModel.Load(r.GetValue(baseModel)!, new EngineOptions(WeightFormat.BF16));
            if (layout is not null)
            {
                DraftConfig c = layout switch
                {
                    "eagle" or "ctc-drafter" => EagleCheckpoint.Import(source, b, ctc: layout == "ctc-drafter", outDir),
                    "medusa" => MedusaCheckpoint.Import(source, b, outDir),
                    "eagle3" => Eagle3Checkpoint.Import(source, b, outDir),
                    _ => throw new ArgumentException($"--from {layout}: unknown layout (eagle, ctc-drafter, medusa, eagle3)"),
                };
                string shape = c.Kind switch
                {
                    DraftKind.Medusa => $"{c.MedusaHeads} heads of {c.MedusaLayers} ResBlocks",
                    DraftKind.Eagle3 or DraftKind.Eagle3Ctc => $"one layer over base layers {string.Join(", ", c.FeatureLayers)}, draft vocabulary {c.DraftVocabSize}",
                    _ => $"one layer, blank {c.Blank.ToString().ToLowerInvariant()}",
                };
                Console.WriteLine($"wrote {outDir}: {c.Kind.Name()} draft ({shape}) for base '{c.BaseModel.Name}'");
            }
            else
            {
                switch (target)
                {
                    case "eagle": EagleCheckpoint.Export(source, b, outDir); break;
                    case "medusa": MedusaCheckpoint.Export(source, b, outDir); break;
                    case "eagle3": Eagle3Checkpoint.Export(source, b, outDir); break;
                    default: throw new ArgumentException($"--to {target}: unknown layout (eagle, medusa, eagle3)");
                }
                Console.WriteLine($"wrote {outDir}: {target} layout of {source}");
            }
            return 0;
        });
        return cmd;
    }

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
