using System.Text.RegularExpressions;
using CtcDrafter.Training.Data;
using CtcDrafter.Training.Tokenizer;

namespace CtcDrafter.Training.Tests;

public class CorpusTests
{
    [Fact]
    public void VicunaTemplateRendersFastChatText()
    {
        Assert.Equal(
            "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, " +
            "detailed, and polite answers to the user's questions. USER: hi ASSISTANT: hello</s>USER: and? ASSISTANT: bye</s>",
            VicunaTemplate.Render([("hi", "hello"), ("and?", "bye")]));
        Assert.EndsWith(" USER: q ASSISTANT:", VicunaTemplate.Prompt("q"));
    }

    [Fact]
    public void Gsm8kAnswersLoseCalculatorNotesAndGetTheEvaluationsFinalLine()
    {
        Assert.Equal("Natalia sold 48/2 = 24 clips in May.\nSo 48+24 = 72.\n### 72",
            Gsm8kAnswer.Clean("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nSo 48+24 = <<48+24=72>>72.\n#### 72"));
    }

    [Fact]
    public void ReadsEverySourceOfTheDataFolder()
    {
        using var temp = new TempFolder();
        var documents = CorpusReader.ReadAll(TinyCorpus.Write(temp.Path));
        var bySource = documents.GroupBy(d => d.Source).ToDictionary(g => g.Key, g => g.ToList());
        Assert.Equal(CorpusReader.Sources, bySource.Keys);
        // The valid file's 60 stories are all among its last 100, which the benchmark keeps: none is read.
        Assert.Equal(300 + 60, bySource[CorpusReader.TinyStories].Count);
        Assert.All(bySource[CorpusReader.TinyStories], d => Assert.True(d.AppendEos));

        var gsm = bySource[CorpusReader.Gsm8k][0];
        Assert.Equal(VicunaTemplate.Render([(VicunaTemplate.Gsm8kInstruction + "Lily has 2 balls and gets 1 more. How many are there?",
            "Lily has 2 + 1 = 3 balls.\n### 3")]), gsm.Text);
        Assert.False(gsm.AppendEos);

        var chat = bySource[CorpusReader.Guanaco][0];
        Assert.EndsWith("USER: What is a ball? ASSISTANT: A ball is a thing that Lily likes.</s>" +
            "USER: Why? ASSISTANT: Because it makes Lily happy.</s>", chat.Text);
        Assert.All(bySource[CorpusReader.Shakespeare], d => Assert.True(d.Text.Length <= 2000));
    }

    [Fact]
    public void ReadsTheBroadSourcesInTheirLayouts()
    {
        using var temp = new TempFolder();
        var documents = CorpusReader.ReadAll(TinyCorpus.Write(temp.Path), CorpusReader.AllSources);
        var bySource = documents.GroupBy(d => d.Source).ToDictionary(g => g.Key, g => g.ToList());
        Assert.Equal(CorpusReader.AllSources, bySource.Keys);

        var book = bySource[BroadSources.Gutenberg];
        Assert.True(book.Count > 3);
        Assert.All(book, d => Assert.True(d.Text.Length <= 6000));
        Assert.Equal("The end of a short book.", book[^1].Text);
        Assert.Equal(["Lily (cat)\nLily is a cat.\nShe likes balls.", "Ben\nBen is a dog."], bySource[BroadSources.Wikipedia].Select(d => d.Text));
        Assert.All(bySource[BroadSources.Wikinews], d => Assert.True(d.AppendEos && !d.IsChat));

        var teacher = bySource[BroadSources.GpTeacher];
        Assert.Equal(VicunaTemplate.Render([("Add the numbers.\n\n2 and 3", "5")]), teacher[0].Text);
        Assert.Equal(VicunaTemplate.Render([("Say hi.", "Hi! </s> is text here.")]), teacher[1].Text);
        Assert.All(teacher, d => Assert.True(d.IsChat));
        Assert.Equal(VicunaTemplate.Render([("Do you like cats?", "Yes, a lot.")]), bySource[BroadSources.TopicalChat].Single().Text);
        Assert.Equal(["# file: maths/add.py\ndef add(a, b):\n    return a + b", "# file: maths/sub.py\ndef sub(a, b):\n    return a - b"], bySource[BroadSources.Code].Select(d => d.Text));
    }

    [Fact]
    public void ChatDocumentsAloneTurnEndOfTurnMarkersIntoEos()
    {
        var tokenizer = TextTokenizer.Load(TestPaths.Tokenizer);
        var plain = tokenizer.EncodeDocument(new CorpusDocument("code", "print('</s>')", AppendEos: true));
        Assert.Equal([TextTokenizer.BosId, .. tokenizer.Encode("print('</s>')"), TextTokenizer.EosId], plain);
    }

    [Fact]
    public void MixtureWeightsRepeatOrSampleTrainingDocumentsAndKeepTheHeldOutOnce()
    {
        using var temp = new TempFolder();
        var tokenizer = TextTokenizer.Load(TestPaths.Tokenizer);
        var documents = CorpusReader.ReadAll(TinyCorpus.Write(temp.Path), [CorpusReader.TinyStories, CorpusReader.Gsm8k]);
        var once = TokenCorpus.Build(documents, tokenizer, CorpusMixture.From(new Dictionary<string, double> { ["tinystories"] = 1, ["gsm8k"] = 1 }, "test"));
        var mixed = TokenCorpus.Build(documents, tokenizer, CorpusMixture.From(new Dictionary<string, double> { ["tinystories"] = 2, ["gsm8k"] = 0.5 }, "test"));
        SourceStatistics Of(TokenCorpus c, string s) => c.Statistics.Single(x => x.Source == s);
        Assert.Equal(2 * Of(once, "tinystories").TrainTokens, Of(mixed, "tinystories").TrainTokens);
        double half = (double)Of(mixed, "gsm8k").TrainTokens / Of(once, "gsm8k").TrainTokens;
        Assert.InRange(half, 0.3, 0.7);
        Assert.Equal(once.HeldOut, mixed.HeldOut);
        Assert.Equal(mixed.Statistics.Sum(s => s.TrainTokens), mixed.Train.Length);

        Assert.Contains("unknown source \"books\"", Assert.Throws<TrainingInputException>(() =>
            CorpusMixture.From(new Dictionary<string, double> { ["books"] = 1 }, "cfg")).Message);
        Assert.Contains("mixture.gsm8k must be between 0 and 100", Assert.Throws<TrainingInputException>(() =>
            CorpusMixture.From(new Dictionary<string, double> { ["gsm8k"] = -1 }, "cfg")).Message);
    }

    [Fact]
    public void MissingCorpusFolderIsAClearError()
    {
        var e = Assert.Throws<TrainingInputException>(() => CorpusReader.ReadAll("/nonexistent/data"));
        Assert.Contains("corpus folder not found", e.Message);
    }

    [Fact]
    public void TokenizerMatchesSentencePiece()
    {
        var tokenizer = TextTokenizer.Load(TestPaths.Tokenizer);
        Assert.Equal(4096, tokenizer.VocabSize);
        // Ids from SentencePiece itself (python3-sentencepiece) for the committed tokenizer.
        Assert.Equal([702, 694, 260, 553, 530, 339, 260, 637, 742, 739, 575, 3587],
            tokenizer.Encode("Once upon a time there was a little girl named Lily."));
        Assert.Equal([438, 3597, 912, 357, 3567, 3634, 651, 3567, 3621, 3619, 439, 3597],
            tokenizer.Encode("USER: What is 7 x 8? ASSISTANT:"));
    }

    [Fact]
    public void DocumentsBecomeBosTokensAndEosWhereTheTurnsEnd()
    {
        var tokenizer = TextTokenizer.Load(TestPaths.Tokenizer);
        var chat = tokenizer.EncodeDocument(CorpusDocument.Chat("x", "USER: a ASSISTANT: b</s>USER: c ASSISTANT: d</s>"));
        Assert.Equal(TextTokenizer.BosId, chat[0]);
        Assert.Equal(2, chat.Count(t => t == TextTokenizer.EosId));
        Assert.Equal(TextTokenizer.EosId, chat[^1]);
        Assert.Equal([.. tokenizer.Encode("USER: c ASSISTANT: d"), TextTokenizer.EosId],
            chat.Skip(chat.IndexOf(TextTokenizer.EosId) + 1));

        var story = tokenizer.EncodeDocument(new CorpusDocument("x", "The end.", true));
        Assert.Equal([TextTokenizer.BosId, .. tokenizer.Encode("The end."), TextTokenizer.EosId], story);
    }

    [Fact]
    public void HeldOutSplitIsStableAndAboutTwoPercent()
    {
        using var temp = new TempFolder();
        var documents = CorpusReader.ReadAll(TinyCorpus.Write(temp.Path));
        var corpus = TokenCorpus.Build(documents, TextTokenizer.Load(TestPaths.Tokenizer));
        var again = TokenCorpus.Build(documents, TextTokenizer.Load(TestPaths.Tokenizer));
        Assert.Equal(corpus.Fingerprint(), again.Fingerprint());
        int heldOut = corpus.Statistics.Sum(s => s.HeldOutDocuments);
        Assert.InRange(heldOut, 1, documents.Count / 15);
        Assert.Equal(corpus.Statistics.Sum(s => s.Tokens), corpus.Train.Length + corpus.HeldOut.Length);
    }

    [SharedDataFact]
    public void SharedCorpusHasTheExpectedDocuments()
    {
        var documents = CorpusReader.ReadAll(TestPaths.SharedData);
        var counts = documents.GroupBy(d => d.Source).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(7473, counts[CorpusReader.Gsm8k]);
        Assert.Equal(1000, counts[CorpusReader.Guanaco]);
        Assert.InRange(counts[CorpusReader.TinyStories], 3000, 4000);
        Assert.InRange(counts[CorpusReader.Shakespeare], 500, 700);
        double heldOut = documents.Count(TokenCorpus.IsHeldOut) / (double)documents.Count;
        Assert.InRange(heldOut, 0.01, 0.03);
        Assert.Equal(0, documents.Count(d => d.Text.Contains("[INST]") || d.Text.Contains("<|endoftext|>")));
        Assert.Equal(0, documents.Count(d => d.Source == CorpusReader.Gsm8k && (d.Text.Contains("<<") || d.Text.Contains("####"))));
    }

    [SharedDataFact]
    public void SharedBroadSourcesHaveTheExpectedDocuments()
    {
        var documents = CorpusReader.ReadAll(TestPaths.SharedData, CorpusReader.AllSources.Except(CorpusReader.Sources));
        var counts = documents.GroupBy(d => d.Source).ToDictionary(g => g.Key, g => g.Count());
        // The data folder's README: 14,719 Wikipedia and 10,479 Wikinews articles, 14,131 GPTeacher examples,
        // 4 x 539 Topical-Chat conversations, 1,164 Python files; 138 books cut into chunks.
        Assert.Equal(14719, counts[BroadSources.Wikipedia]);
        Assert.Equal(10479, counts[BroadSources.Wikinews]);
        Assert.Equal(14131, counts[BroadSources.GpTeacher]);
        Assert.Equal(4 * 539, counts[BroadSources.TopicalChat]);
        Assert.Equal(1164, counts[BroadSources.Code]);
        Assert.InRange(counts[BroadSources.Gutenberg], 138 * 20, 138 * 100);
        Assert.Equal(0, documents.Count(d => d.Text.Contains("<|endoftext|>")));
        Assert.All(documents.Where(d => d.Source == BroadSources.Code), d => Assert.Single(Regex.Matches(d.Text, "^# file: ", RegexOptions.Multiline)));
    }
}
