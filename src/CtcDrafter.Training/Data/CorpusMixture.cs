namespace CtcDrafter.Training.Data;

/// <summary>
/// How much of each source the training stream holds: a weight w puts floor(w) copies of every training document
/// of the source in the stream, and one more copy of the documents a stable hash picks with probability frac(w)
/// (so 0.5 keeps half the documents, 2 repeats every one). Held-out documents are kept once whatever the weight.
/// A source that is not named is not read.
/// </summary>
internal sealed class CorpusMixture
{
    CorpusMixture(IReadOnlyDictionary<string, double> weights) => Weights = weights;

    public IReadOnlyDictionary<string, double> Weights { get; }

    /// <summary>The first corpus: the four original sources, once each.</summary>
    public static CorpusMixture Default { get; } = new(CorpusReader.Sources.ToDictionary(s => s, _ => 1.0));

    /// <summary>The mixture of a config (null: <see cref="Default"/>), with every source and weight checked.</summary>
    public static CorpusMixture From(IReadOnlyDictionary<string, double>? weights, string source)
    {
        if (weights is null) return Default;
        foreach (var (name, weight) in weights)
        {
            if (!CorpusReader.AllSources.Contains(name))
                throw new TrainingInputException($"{source}: mixture names an unknown source \"{name}\" (known: {string.Join(", ", CorpusReader.AllSources)})");
            if (!double.IsFinite(weight) || weight < 0 || weight > 100)
                throw new TrainingInputException($"{source}: mixture.{name} must be between 0 and 100 (got {weight})");
        }
        if (!weights.Values.Any(w => w > 0)) throw new TrainingInputException($"{source}: mixture gives every source weight 0");
        return new CorpusMixture(CorpusReader.AllSources.Where(s => weights.GetValueOrDefault(s) > 0).ToDictionary(s => s, s => weights[s]));
    }

    /// <summary>The sources to read.</summary>
    public IEnumerable<string> Sources => Weights.Keys;

    /// <summary>How many times a training document appears in the training stream.</summary>
    public int Copies(CorpusDocument document, ulong hash)
    {
        double weight = Weights.GetValueOrDefault(document.Source);
        int whole = (int)Math.Floor(weight);
        double fraction = weight - whole;
        // The hash's high bits: the low ones already decided the held-out split.
        return whole + ((hash >> 11) * (1.0 / (1UL << 53)) < fraction ? 1 : 0);
    }
}
