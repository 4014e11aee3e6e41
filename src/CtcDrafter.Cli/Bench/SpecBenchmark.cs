using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Text;

namespace CtcDrafter.Cli.Bench;

/// <summary>
/// Runs every method on every prompt of a suite, interleaved per prompt (the order alternates) after a warm-up,
/// and checks that greedy outputs equal the vanilla outputs.
/// </summary>
sealed class SpecBenchmark(LlamaModel model, IReadOnlyList<string> methods, Commands.DraftFolders drafts, ChatTemplate? template,
    int maxTokens, SamplingOptions sampling, int? fixedTree)
{
    readonly TextTokenizer _tok = model.Tokenizer ?? throw new ModelFormatException(model.Folder, "the benchmark needs the model's tokenizer");

    public List<List<MethodRun>> Run(IReadOnlyList<BenchPrompt> prompts, Action<int, int, string> progress, out int skipped)
    {
        var generators = methods.ToDictionary(m => m, m => new Generator(model, DrafterFactory.Create(m, model, drafts.For(m, model.Folder)), fixedTree ?? 32, adaptive: fixedTree is null));
        var runs = new List<List<MethodRun>>();
        skipped = 0;
        if (prompts.Count == 0) return runs;
        foreach (string m in methods) RunOne(generators[m], m, prompts[0]); // warm-up: JIT tiers, caches, page faults

        for (int i = 0; i < prompts.Count; i++)
        {
            progress(i, prompts.Count, prompts[i].Id);
            if (Encode(prompts[i], prompts[i].Turns.Count, []).Length + maxTokens * prompts[i].Turns.Count > model.ContextLength)
            {
                skipped++;
                continue;
            }
            var order = i % 2 == 0 ? methods : methods.Reverse().ToList();
            var byMethod = order.ToDictionary(m => m, m => RunOne(generators[m], m, prompts[i]));
            var row = methods.Select(m => byMethod[m]).ToList();
            if (sampling.IsGreedy && byMethod.TryGetValue("vanilla", out MethodRun? vanilla))
                foreach (MethodRun r in row)
                    r.Identical = r.Turns.Zip(vanilla.Turns).All(p => p.First.Tokens.SequenceEqual(p.Second.Tokens));
            runs.Add(row);
        }
        return runs;
    }

    MethodRun RunOne(Generator g, string method, BenchPrompt p)
    {
        var run = new MethodRun { Method = method, Prompt = p };
        var answers = new List<string>();
        for (int turn = 0; turn < p.Turns.Count; turn++)
        {
            int[] ids = Encode(p, turn + 1, answers);
            var request = new GenerationRequest(ids, maxTokens, sampling);
            GenerationResult r = g.Generate(request);
            run.Turns.Add(r);
            answers.Add(r.Text.Trim());
        }
        return run;
    }

    int[] Encode(BenchPrompt p, int turns, IReadOnlyList<string> answers) => p.Encode(_tok, template, turns, answers);
}
