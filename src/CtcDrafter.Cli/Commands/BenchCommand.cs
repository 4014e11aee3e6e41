using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using CtcDrafter.Cli.Bench;
using CtcDrafter.Drafters;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Text;

namespace CtcDrafter.Cli.Commands;

/// <summary><c>ctcdrafter bench</c>: measured figures, never timed tests.</summary>
static class BenchCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var dtype = CommonOptions.Dtype();
        var threads = CommonOptions.Threads();
        var draft = new Option<string?>("--draft") { Description = DraftFolders.Description };
        var methods = new Option<string>("--methods") { Description = $"comma-separated methods ({string.Join(", ", DrafterFactory.Methods)})", DefaultValueFactory = _ => "vanilla,prompt-lookup" };
        var suites = new Option<string>("--suite") { Description = $"comma-separated suites: {string.Join(", ", Suites.Names)}, or FILE.jsonl (MT-bench shape)", DefaultValueFactory = _ => "gsm8k" };
        var limit = new Option<int>("--limit") { Description = "prompts per suite", DefaultValueFactory = _ => 20 };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "most new tokens per turn", DefaultValueFactory = _ => 128 };
        var temperature = new Option<float>("--temperature", "-t") { Description = "0 = greedy", DefaultValueFactory = _ => 0f };
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => 0 };
        var tree = CommonOptions.Tree();
        var context = CommonOptions.Context();
        var template = new Option<string>("--chat-template") { Description = "template of the chat suites", DefaultValueFactory = _ => "vicuna_v1.1" };
        var data = new Option<string?>("--data") { Description = "data folder (default: ../shared/data)" };
        var output = new Option<string>("--out") { Description = "folder for results.json, results.md, speedup.png and answers/SUITE/METHOD.jsonl", DefaultValueFactory = _ => "bench-results" };
        var cmd = new Command("bench", "Speculative decoding benchmark on prompt suites: speedup, tau, acceptance, identical outputs.")
        {
            model, dtype, threads, draft, methods, suites, limit, maxTokens, temperature, seed, tree, context, template, data, output, Engine(), Batch(),
        };
        cmd.SetAction(r =>
        {
            string[] ms = r.GetValue(methods)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (ms.Length == 0) throw new ArgumentException("--methods is empty");
            if (r.GetValue(limit) <= 0 || r.GetValue(maxTokens) <= 0 || r.GetValue(tree) <= 0) throw new ArgumentException("--limit, --max-tokens and --tree must be positive");
            using LlamaModel m = CommonOptions.Load(r.GetValue(model)!, r.GetValue(dtype)!, r.GetValue(threads), r.GetValue(context));
            var drafts = DraftFolders.Parse(r.GetValue(draft));
            foreach (string method in ms) DrafterFactory.Create(method, m, drafts.For(method, m.Folder)); // fail before any work
            var sampling = new SamplingOptions(r.GetValue(temperature), Seed: r.GetValue(seed));
            sampling.Validate();
            var chat = ChatTemplate.Get(r.GetValue(template)!);
            // Every argument is checked before the first prompt runs: all suites load, none is empty, --out is writable.
            var loaded = r.GetValue(suites)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(suite => (Suite: suite, Prompts: Suites.Load(suite, r.GetValue(data), r.GetValue(limit)))).ToList();
            if (loaded.Count == 0) throw new ArgumentException("--suite is empty");
            if (loaded.FirstOrDefault(l => l.Prompts.Count == 0) is { Suite: not null } empty)
                throw new ArgumentException($"suite {empty.Suite} has no prompts");
            string dir = r.GetValue(output)!;
            CheckWritable(dir);
            var suiteResults = new JsonObject();
            var answers = new List<(string Path, List<string> Lines)>();
            foreach (var (suite, prompts) in loaded)
            {
                var bench = new SpecBenchmark(m, ms, drafts, chat, r.GetValue(maxTokens), sampling, r.GetValue(tree));
                var rows = bench.Run(prompts, (i, n, id) => Console.Error.Write($"\r{suite}: prompt {i + 1}/{n} ({id})        "), out int skipped);
                Console.Error.WriteLine();
                string key = Path.GetFileNameWithoutExtension(suite);
                suiteResults[key] = BenchReport.SuiteJson(ms, rows, skipped);
                answers.AddRange(ms.Select(method => (Path.Combine(Answers, key, method + ".jsonl"), AnswerFile.Lines(m.Folder, method, rows).ToList())));
            }
            var results = new JsonObject
            {
                ["command"] = "ctcdrafter " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)),
                ["machine"] = MachineInfo.Json(),
                ["model"] = m.Folder, ["dtype"] = m.Options.Format.ToString().ToLowerInvariant(), ["threads"] = Kernels.WorkerPool.Shared.Threads,
                ["maxTokens"] = r.GetValue(maxTokens), ["temperature"] = r.GetValue(temperature), ["treeBudget"] = r.GetValue(tree)?.ToString() ?? "adaptive (<= 32)",
                ["suites"] = suiteResults,
            };
            string md = BenchReport.Markdown(results);
            // The outputs replace the old ones as a whole; whatever else the folder holds is carried over.
            FolderWriter.Write(dir, replace: true, staging =>
            {
                File.WriteAllText(Path.Combine(staging, "results.json"), results.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                File.WriteAllText(Path.Combine(staging, "results.md"), md);
                BenchReport.Plot(results, Path.Combine(staging, "speedup.png"));
                foreach (var (path, lines) in answers)
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(staging, path))!);
                    File.WriteAllLines(Path.Combine(staging, path), lines);
                }
                if (Directory.Exists(dir)) CopyExcept(dir, staging, Outputs);
            });
            Console.WriteLine(md);
            Console.WriteLine($"wrote {Path.Combine(dir, "results.json")}, results.md, speedup.png, {Answers}/");
            return 0;
        });
        return cmd;
    }

    /// <summary>Checks before the first prompt runs that the outputs can be written beside <paramref name="dir"/>.</summary>
    static void CheckWritable(string dir)
    {
        try
        {
            string parent = Path.GetDirectoryName(Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar))!;
            Directory.CreateDirectory(parent);
            string probe = Path.Combine(parent, $".write-probe-{Guid.NewGuid():N}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"--out {dir}: cannot write there ({e.Message})");
        }
    }

    /// <summary>The folder of the answer files, one per suite and method (<see cref="AnswerFile"/>).</summary>
    const string Answers = "answers";

    static readonly string[] Outputs = ["results.json", "results.md", "speedup.png", Answers];

    /// <summary>Copies the files and folders of <paramref name="from"/> but those named in <paramref name="skip"/>.</summary>
    static void CopyExcept(string from, string to, string[] skip)
    {
        foreach (string file in Directory.GetFiles(from))
            if (!skip.Contains(Path.GetFileName(file))) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (string sub in Directory.GetDirectories(from))
        {
            if (skip.Contains(Path.GetFileName(sub))) continue;
            string target = Directory.CreateDirectory(Path.Combine(to, Path.GetFileName(sub))).FullName;
            CopyExcept(sub, target, []);
        }
    }

    static Command Engine()
    {
        var model = CommonOptions.Model();
        var dtype = CommonOptions.Dtype();
        var threads = CommonOptions.Threads();
        var context = new Option<int>("--context") { Description = "committed tokens before timed steps", DefaultValueFactory = _ => 128 };
        var repeats = new Option<int>("--repeats") { Description = "timed repetitions per figure (median is reported)", DefaultValueFactory = _ => 15 };
        var json = new Option<bool>("--json") { Description = "print JSON" };
        var cmd = new Command("engine", "Decode speed against memory bandwidth, tree-verification cost curve, prefill throughput.")
        {
            model, dtype, threads, context, repeats, json,
        };
        cmd.SetAction(r =>
        {
            using LlamaModel m = CommonOptions.Load(r.GetValue(model)!, r.GetValue(dtype)!, r.GetValue(threads));
            EngineBenchmark.Result res = EngineBenchmark.Run(m, r.GetValue(context), r.GetValue(repeats));
            if (r.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(res, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
            else
            {
                Console.WriteLine($"model {res.Model}, dtype {res.Dtype}, threads {res.Threads}, context {res.Context}");
                Console.WriteLine($"memory bandwidth   {res.BandwidthGBs:F1} GB/s");
                Console.WriteLine($"weights per token  {res.WeightBytes / 1e6:F1} MB");
                Console.WriteLine($"decode             {res.DecodeMsPerToken:F3} ms/token = {res.BandwidthFraction:P0} of bandwidth");
                Console.WriteLine($"verify cost        {string.Join("  ", res.VerifyCost.Select(kv => $"T={kv.Key}: {kv.Value:F2}x"))}");
                Console.WriteLine($"prefill            {res.PrefillTokensPerSecond:F0} tokens/s = {res.PrefillGflops:F1} GFLOP/s");
            }
            return 0;
        });
        return cmd;
    }

    static Command Batch()
    {
        var model = CommonOptions.Model();
        var dtype = CommonOptions.Dtype();
        var threads = CommonOptions.Threads();
        var draft = new Option<string?>("--draft") { Description = DraftFolders.Description };
        var methods = new Option<string>("--methods") { Description = $"comma-separated methods ({string.Join(", ", DrafterFactory.Methods)})", DefaultValueFactory = _ => "vanilla,ctc" };
        var streams = new Option<string>("--streams") { Description = "comma-separated numbers of concurrent streams (1 is always measured)", DefaultValueFactory = _ => "1,8" };
        var suite = new Option<string>("--suite") { Description = $"the prompts: {string.Join(", ", Suites.Names)}, or FILE.jsonl (first turns)", DefaultValueFactory = _ => "gsm8k" };
        var limit = new Option<int>("--limit") { Description = "requests per run", DefaultValueFactory = _ => 32 };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "most new tokens per request", DefaultValueFactory = _ => 128 };
        var temperature = new Option<float>("--temperature", "-t") { Description = "0 = greedy", DefaultValueFactory = _ => 0f };
        var tree = CommonOptions.Tree();
        var context = CommonOptions.Context();
        var template = new Option<string>("--chat-template") { Description = "template of the chat suites", DefaultValueFactory = _ => "vicuna_v1.1" };
        var data = new Option<string?>("--data") { Description = "data folder (default: ../shared/data)" };
        var output = new Option<string?>("--out") { Description = "also write the figures to this JSON file" };
        var cmd = new Command("batch", "Concurrent streams decoded together: aggregate tokens/s and time to first token against one stream, per method.")
        {
            model, dtype, threads, draft, methods, streams, suite, limit, maxTokens, temperature, tree, context, template, data, output,
        };
        cmd.SetAction(r =>
        {
            string[] ms = r.GetValue(methods)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (ms.Length == 0) throw new ArgumentException("--methods is empty");
            int[] counts = [.. r.GetValue(streams)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => int.TryParse(s, out int n) && n > 0 ? n : throw new ArgumentException($"--streams: '{s}' is not a positive number")).Append(1).Distinct()];
            if (r.GetValue(limit) <= 0 || r.GetValue(maxTokens) <= 0 || r.GetValue(tree) <= 0) throw new ArgumentException("--limit, --max-tokens and --tree must be positive");
            using LlamaModel m = CommonOptions.Load(r.GetValue(model)!, r.GetValue(dtype)!, r.GetValue(threads), r.GetValue(context));
            var drafts = DraftFolders.Parse(r.GetValue(draft));
            IDrafter[] drafters = [.. ms.Select(method => DrafterFactory.Create(method, m, drafts.For(method, m.Folder)))];
            var sampling = new SamplingOptions(r.GetValue(temperature));
            sampling.Validate();
            var prompts = Suites.Load(r.GetValue(suite)!, r.GetValue(data), r.GetValue(limit));
            if (prompts.Count == 0) throw new ArgumentException($"suite {r.GetValue(suite)} has no prompts");
            var bench = new BatchBenchmark(m, drafters, ChatTemplate.Get(r.GetValue(template)!), r.GetValue(maxTokens), sampling, r.GetValue(tree));
            var runs = bench.Measure(prompts, counts, what => Console.Error.WriteLine($"running {what}"));
            JsonObject results = BatchBenchmark.Json(runs);
            results["command"] = "ctcdrafter " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1));
            results["machine"] = MachineInfo.Json();
            (results["model"], results["dtype"], results["threads"]) = (m.Folder, m.Options.Format.ToString().ToLowerInvariant(), Kernels.WorkerPool.Shared.Threads);
            (results["suite"], results["maxTokens"], results["temperature"]) = (r.GetValue(suite), r.GetValue(maxTokens), r.GetValue(temperature));
            results["treeBudget"] = r.GetValue(tree)?.ToString() ?? "adaptive (<= 32 per stream)";
            if (r.GetValue(output) is string path) File.WriteAllText(path, results.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"{m.Folder}, {results["dtype"]}, {results["threads"]} threads, {r.GetValue(suite)}, {r.GetValue(maxTokens)} tokens, tree {results["treeBudget"]}");
            Console.WriteLine(BatchBenchmark.Markdown(runs));
            return 0;
        });
        return cmd;
    }
}
