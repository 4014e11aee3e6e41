using System.Text;
using CtcDrafter.Training.Tokenizer;

namespace CtcDrafter.Training.Data;

/// <summary>Document and token counts of one source; <paramref name="TrainTokens"/> counts its share of the training stream
/// after the mixture's weights.</summary>
internal sealed record SourceStatistics(string Source, int Documents, long Tokens, int HeldOutDocuments, long HeldOutTokens, long TrainTokens);

/// <summary>
/// The tokenised corpus: every document becomes BOS + tokens (+ EOS), the documents are concatenated in their
/// fixed order into one training stream (each as many times as the <see cref="CorpusMixture"/> says) and one
/// held-out stream per source. About 2 % of the documents, chosen by a stable hash of their text, are held out.
/// </summary>
internal sealed class TokenCorpus
{
    const int HeldOutOneIn = 50;

    TokenCorpus(int[] train, IReadOnlyDictionary<string, int[]> heldOutBySource, IReadOnlyList<SourceStatistics> statistics)
    {
        Train = train;
        HeldOutBySource = heldOutBySource;
        HeldOut = [.. heldOutBySource.Values.SelectMany(t => t)];
        Statistics = statistics;
    }

    public int[] Train { get; }   // [trainTokens]
    public int[] HeldOut { get; } // [heldOutTokens], the sources' held-out streams one after the other
    public IReadOnlyDictionary<string, int[]> HeldOutBySource { get; }
    public IReadOnlyList<SourceStatistics> Statistics { get; }

    public static TokenCorpus Build(IReadOnlyList<CorpusDocument> documents, TextTokenizer tokenizer, CorpusMixture? mixture = null)
    {
        mixture ??= CorpusMixture.Default;
        var encoded = new List<int>[documents.Count];
        Parallel.For(0, documents.Count, i => encoded[i] = tokenizer.EncodeDocument(documents[i]));

        var train = new List<int>();
        var heldOut = new Dictionary<string, int[]>();
        var statistics = new List<SourceStatistics>();
        foreach (var group in documents.Select((d, i) => (d, i)).GroupBy(x => x.d.Source))
        {
            int docs = 0, heldDocs = 0;
            long tokens = 0, heldTokens = 0, trainTokens = 0;
            var held = new List<int>();
            foreach (var (document, i) in group)
            {
                docs++;
                tokens += encoded[i].Count;
                ulong hash = Hash(document);
                if (hash % HeldOutOneIn == 0)
                {
                    heldDocs++;
                    heldTokens += encoded[i].Count;
                    held.AddRange(encoded[i]);
                }
                else
                {
                    for (int copy = mixture.Copies(document, hash); copy > 0; copy--)
                    {
                        train.AddRange(encoded[i]);
                        trainTokens += encoded[i].Count;
                    }
                }
            }
            heldOut[group.Key] = [.. held];
            statistics.Add(new SourceStatistics(group.Key, docs, tokens, heldDocs, heldTokens, trainTokens));
        }
        return new TokenCorpus([.. train], heldOut, statistics);
    }

    /// <summary>Whether a document belongs to the held-out split.</summary>
    public static bool IsHeldOut(CorpusDocument document) => Hash(document) % HeldOutOneIn == 0;

    /// <summary>FNV-1a 64 of a document's source and text.</summary>
    static ulong Hash(CorpusDocument document)
    {
        ulong hash = 14695981039346656037UL;
        foreach (byte b in Encoding.UTF8.GetBytes(document.Source + "\n" + document.Text))
            hash = (hash ^ b) * 1099511628211UL;
        return hash;
    }

    /// <summary>A stable fingerprint of both streams, to check that a resumed run sees the same data.</summary>
    public string Fingerprint()
    {
        ulong hash = 14695981039346656037UL;
        foreach (int token in Train.Concat(HeldOut).Append(Train.Length))
            hash = (hash ^ (uint)token) * 1099511628211UL;
        return hash.ToString("x16");
    }
}
