using System.Text;
using System.Text.Json.Nodes;

namespace CtcDrafter.Cli.Bench;

/// <summary>Aggregates of one method over one suite (docs METHOD.md section 6 and PERFORMANCE.md "How to measure").</summary>
sealed record MethodSummary(string Method, int Prompts, double Gamma, double Tau, double Beta, double TokensPerSecond,
    int Identical, double[] AcceptancePerDepth, double DraftShare, double GammaMin, double GammaMax, double NodesPerStep)
{
    /// <summary>
    /// gamma = mean over prompts of (method tokens/s) / (vanilla tokens/s) of the same prompt; tau = new tokens /
    /// base forward passes; beta = the paper's tokens per step, which divides by (steps - 1) per turn; nodes per
    /// step = draft tokens verified / steps, the tree size the budget chose.
    /// </summary>
    public static MethodSummary Of(string method, IReadOnlyList<List<MethodRun>> rows)
    {
        var runs = rows.Select(r => r.First(x => x.Method == method)).ToList();
        var ratios = rows.Select(r => r.First(x => x.Method == method).TokensPerSecond / Math.Max(1e-9, r.FirstOrDefault(x => x.Method == "vanilla")?.TokensPerSecond ?? double.NaN))
            .Where(x => !double.IsNaN(x)).ToList();
        int steps = runs.Sum(r => r.Steps), tokens = runs.Sum(r => r.NewTokens);
        int betaSteps = runs.Sum(r => r.Turns.Sum(t => Math.Max(1, t.Stats.Steps - 1)));
        int depth = runs.Count == 0 ? 0 : runs.Max(r => r.AcceptedPerDepth.Length);
        var perDepth = new double[depth];
        foreach (var r in runs)
        {
            int[] a = r.AcceptedPerDepth;
            for (int d = 0; d < a.Length; d++) perDepth[d] += a[d];
        }
        double decode = runs.Sum(r => r.DecodeMs);
        return new MethodSummary(method, runs.Count,
            ratios.Count == 0 ? double.NaN : ratios.Average(),
            steps == 0 ? 0 : (double)tokens / steps, betaSteps == 0 ? 0 : (double)tokens / betaSteps,
            decode <= 0 ? 0 : tokens / (decode / 1000), runs.Count(r => r.Identical),
            perDepth.Select(x => steps == 0 ? 0 : x / steps).ToArray(), decode <= 0 ? 0 : runs.Sum(r => r.DraftMs) / decode,
            ratios.Count == 0 ? double.NaN : ratios.Min(), ratios.Count == 0 ? double.NaN : ratios.Max(),
            steps == 0 ? 0 : (double)runs.Sum(r => r.DraftNodes) / steps);
    }

    public JsonObject ToJson() => new()
    {
        ["gamma"] = R(Gamma), ["gammaMin"] = R(GammaMin), ["gammaMax"] = R(GammaMax), ["tau"] = R(Tau), ["beta"] = R(Beta),
        ["tokensPerSecond"] = R(TokensPerSecond), ["identical"] = Identical, ["prompts"] = Prompts,
        ["acceptancePerDepth"] = new JsonArray(AcceptancePerDepth.Select(a => (JsonNode)R(a)!).ToArray()),
        ["draftShare"] = R(DraftShare), ["nodesPerStep"] = R(NodesPerStep),
    };

    static JsonNode? R(double x) => double.IsFinite(x) ? JsonValue.Create(Math.Round(x, 4)) : null;
}

/// <summary>results.json, results.md and speedup.png of a benchmark run.</summary>
static class BenchReport
{
    /// <summary>
    /// Per method the summary over all prompts and over the fluent ones (<see cref="Repetition"/>), each also per
    /// category, and every prompt with the repetition share of its vanilla output.
    /// </summary>
    public static JsonObject SuiteJson(IReadOnlyList<string> methods, IReadOnlyList<List<MethodRun>> rows, int skipped)
    {
        var repetition = rows.ToDictionary(r => r, RepetitionOf);
        var fluent = rows.Where(r => Repetition.IsFluent(repetition[r])).ToList();
        var ms = new JsonObject();
        foreach (string m in methods)
        {
            JsonObject o = Summary(m, rows);
            o["fluent"] = Summary(m, fluent);
            o["perPrompt"] = new JsonArray(rows.Select(r => PromptJson(r.First(x => x.Method == m), repetition[r])).ToArray());
            ms[m] = o;
        }
        return new JsonObject
        {
            ["prompts"] = rows.Count, ["fluentPrompts"] = fluent.Count, ["repetitionMedian"] = Math.Round(Median(repetition.Values), 4),
            ["skipped"] = skipped, ["methods"] = ms,
        };
    }

    /// <summary>The middle value (the mean of the two middle ones for an even count); 0 for none.</summary>
    internal static double Median(IEnumerable<double> values)
    {
        double[] v = [.. values.Order()];
        return v.Length == 0 ? 0 : v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    static JsonObject Summary(string method, IReadOnlyList<List<MethodRun>> rows)
    {
        JsonObject o = MethodSummary.Of(method, rows).ToJson();
        var categories = new JsonObject();
        foreach (var g in rows.GroupBy(r => r[0].Prompt.Category).OrderBy(g => g.Key))
            categories[g.Key] = MethodSummary.Of(method, g.ToList()).ToJson();
        o["categories"] = categories;
        return o;
    }

    /// <summary>
    /// The repetition share of the prompt's vanilla output; without a vanilla run, of the first method's output,
    /// which greedy decoding makes vanilla's.
    /// </summary>
    static double RepetitionOf(List<MethodRun> row) =>
        Repetition.Share((row.FirstOrDefault(x => x.Method == "vanilla") ?? row[0]).Turns.Select(t => t.Tokens));

    static JsonNode PromptJson(MethodRun r, double repetition) => new JsonObject
    {
        ["id"] = r.Prompt.Id, ["category"] = r.Prompt.Category, ["turns"] = r.Turns.Count, ["newTokens"] = r.NewTokens,
        ["steps"] = r.Steps, ["draftNodes"] = r.DraftNodes, ["tau"] = r.Steps == 0 ? 0 : Math.Round((double)r.NewTokens / r.Steps, 4),
        ["tokensPerSecond"] = Math.Round(r.TokensPerSecond, 2), ["decodeMs"] = Math.Round(r.DecodeMs, 2),
        ["draftMs"] = Math.Round(r.DraftMs, 2), ["verifyMs"] = Math.Round(r.VerifyMs, 2), ["identical"] = r.Identical,
        ["acceptedPerDepth"] = new JsonArray(r.AcceptedPerDepth.Select(a => (JsonNode)a).ToArray()),
        ["repetition"] = Math.Round(repetition, 4), ["fluent"] = Repetition.IsFluent(repetition),
    };

    public static string Markdown(JsonObject results)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# Benchmark: {results["model"]}");
        sb.AppendLine();
        sb.AppendLine($"Machine: {results["machine"]?["cpu"]}, {results["machine"]?["cores"]} cores; dtype {results["dtype"]}, threads {results["threads"]}, " +
            $"max tokens {results["maxTokens"]}, temperature {results["temperature"]}, tree budget {results["treeBudget"]} nodes. Command: `{results["command"]}`");
        foreach (var (suite, node) in (JsonObject)results["suites"]!)
        {
            var s = (JsonObject)node!;
            var methods = (JsonObject)s["methods"]!;
            sb.AppendLine();
            sb.AppendLine($"## {suite} ({s["prompts"]} prompts{(s["skipped"]!.GetValue<int>() > 0 ? $", {s["skipped"]} skipped: too long for the context" : "")})");
            Tables(sb, methods, o => o);
            sb.AppendLine();
            sb.AppendLine($"### {suite}, fluent subset ({s["fluentPrompts"]} of {s["prompts"]} prompts fluent: " +
                $"repetition share of the vanilla output below {Repetition.FluentBelow:F2}; median share {s["repetitionMedian"]!.GetValue<double>():F2})");
            if (s["fluentPrompts"]!.GetValue<int>() > 0) Tables(sb, methods, o => (JsonObject)o["fluent"]!);
        }
        return sb.ToString();
    }

    /// <summary>The methods table and, when the suite has several categories, the category table, of the summaries
    /// <paramref name="summary"/> picks from each method's results.</summary>
    static void Tables(StringBuilder sb, JsonObject methods, Func<JsonObject, JsonObject> summary)
    {
        sb.AppendLine();
        sb.AppendLine("| method | speedup γ (min-max) | τ | β (paper) | tokens/s | identical | acceptance per depth | draft share | nodes/step |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var (m, mn) in methods)
            sb.AppendLine(Row(m, summary((JsonObject)mn!)));
        var first = summary((JsonObject)methods.First().Value!)["categories"]!.AsObject();
        if (first.Count > 1)
        {
            sb.AppendLine();
            sb.AppendLine("| category | " + string.Join(" | ", methods.Select(kv => $"{kv.Key} γ / τ")) + " |");
            sb.AppendLine("|---|" + string.Concat(methods.Select(_ => "---|")));
            foreach (var (cat, _) in first)
                sb.AppendLine($"| {cat} | " + string.Join(" | ", methods.Select(kv =>
                {
                    var c = summary((JsonObject)kv.Value!)["categories"]![cat]!;
                    return $"{F(c["gamma"])} / {F(c["tau"])}";
                })) + " |");
        }
    }

    static string Row(string m, JsonObject o) =>
        $"| {m} | {F(o["gamma"])} ({F(o["gammaMin"])}-{F(o["gammaMax"])}) | {F(o["tau"])} | {F(o["beta"])} | {F(o["tokensPerSecond"], 1)} | " +
        $"{o["identical"]}/{o["prompts"]} | {string.Join(" ", o["acceptancePerDepth"]!.AsArray().Select(a => F(a)))} | {F(o["draftShare"])} | {F(o["nodesPerStep"], 1)} |";

    static string F(JsonNode? n, int digits = 2) => n is null ? "-" : Math.Round(n.GetValue<double>(), digits).ToString($"F{digits}");

    /// <summary>Speedup per method and suite as grouped bars.</summary>
    public static void Plot(JsonObject results, string path)
    {
        var plt = new ScottPlot.Plot();
        var suites = ((JsonObject)results["suites"]!).ToList();
        var methods = suites.SelectMany(s => ((JsonObject)s.Value!["methods"]!).Select(kv => kv.Key)).Distinct().ToList();
        var palette = new ScottPlot.Palettes.Category10();
        var bars = new List<ScottPlot.Bar>();
        for (int si = 0; si < suites.Count; si++)
            for (int mi = 0; mi < methods.Count; mi++)
            {
                double gamma = suites[si].Value!["methods"]![methods[mi]]?["gamma"]?.GetValue<double>() ?? 0;
                bars.Add(new ScottPlot.Bar { Position = si * (methods.Count + 1) + mi, Value = gamma, FillColor = palette.GetColor(mi) });
            }
        plt.Add.Bars(bars);
        plt.Axes.Bottom.SetTicks(suites.Select((_, si) => si * (methods.Count + 1) + (methods.Count - 1) / 2.0).ToArray(), suites.Select(s => s.Key).ToArray());
        for (int mi = 0; mi < methods.Count; mi++)
            plt.Legend.ManualItems.Add(new ScottPlot.LegendItem { LabelText = methods[mi], FillColor = palette.GetColor(mi) });
        plt.Add.HorizontalLine(1, 1, ScottPlot.Colors.Gray, ScottPlot.LinePattern.Dashed);
        plt.Title($"Speedup over vanilla decoding: {Path.GetFileName(results["model"]!.GetValue<string>().TrimEnd('/'))}, {results["dtype"]}, {results["threads"]} threads");
        plt.YLabel("speedup γ (tokens/s ratio)");
        plt.Axes.Margins(bottom: 0);
        plt.SavePng(path, 900, 500);
    }
}
