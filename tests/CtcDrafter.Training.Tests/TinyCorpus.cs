using System.Text;
using System.Text.Json;

namespace CtcDrafter.Training.Tests;

/// <summary>Writes a small corpus in the layout of ../shared/data (every source, a few hundred documents).</summary>
internal static class TinyCorpus
{
    static readonly string[] Names = ["Lily", "Ben", "Tom", "Sue", "Max", "Anna", "Tim", "Mia"];
    static readonly string[] Things = ["ball", "cat", "kite", "tree", "cake", "boat", "star", "dog"];
    static readonly string[] Feelings = ["happy", "sad", "brave", "tired", "kind", "proud"];

    public static string Write(string root)
    {
        string corpora = Path.Combine(root, "corpora");
        string stories = Path.Combine(corpora, "tinystories");
        Directory.CreateDirectory(stories);
        File.WriteAllText(Path.Combine(stories, "tinystories_10k_minesoptml.txt"),
            string.Join("\n<|endoftext|>\n", Enumerable.Range(0, 300).Select(Story)));
        File.WriteAllText(Path.Combine(stories, "tinystories_train_head_smallgpt.txt"),
            string.Join("\n", Enumerable.Range(300, 60).Select(i => Story(i).Replace(". ", ".\n\n", StringComparison.Ordinal))));
        File.WriteAllText(Path.Combine(stories, "tinystories_valid_head_yuninxia.txt"),
            string.Join("\n\n", Enumerable.Range(360, 60).Select(i => "Once " + Story(i))));

        Directory.CreateDirectory(Path.Combine(corpora, "gsm8k"));
        File.WriteAllLines(Path.Combine(corpora, "gsm8k", "train.jsonl"), Enumerable.Range(0, 80).Select(i =>
            JsonSerializer.Serialize(new
            {
                question = $"{Names[i % 8]} has {i + 2} {Things[i % 8]}s and gets {i % 5 + 1} more. How many are there?",
                answer = $"{Names[i % 8]} has {i + 2} + {i % 5 + 1} = <<{i + 2}+{i % 5 + 1}={i + 3 + i % 5}>>{i + 3 + i % 5} {Things[i % 8]}s.\n#### {i + 3 + i % 5}",
            })));

        Directory.CreateDirectory(Path.Combine(corpora, "guanaco"));
        File.WriteAllLines(Path.Combine(corpora, "guanaco", "guanaco_llama2_1k.jsonl"), Enumerable.Range(0, 40).Select(i =>
            JsonSerializer.Serialize(new
            {
                text = $"<s>[INST] What is a {Things[i % 8]}? [/INST] A {Things[i % 8]} is a thing that {Names[i % 8]} likes. </s>" +
                    (i % 3 == 0 ? $"<s>[INST] Why? [/INST] Because it makes {Names[i % 8]} {Feelings[i % 6]}. </s>" : ""),
            })));

        Directory.CreateDirectory(Path.Combine(corpora, "tinyshakespeare"));
        var play = new StringBuilder();
        for (int i = 0; i < 120; i++)
            play.Append($"{Names[i % 8].ToUpperInvariant()}:\nThe {Things[i % 8]} is {Feelings[i % 6]}, and so am I.\n\n");
        File.WriteAllText(Path.Combine(corpora, "tinyshakespeare", "input.txt"), play.ToString());

        WriteBroadSources(corpora);

        // ShareGPT first turns: 100 that the benchmark uses, then training ones, and entries distillation must skip (an empty
        // one, one opened by "gpt", one without turns).
        string sharegpt = Path.Combine(root, "prompts", "sharegpt");
        Directory.CreateDirectory(sharegpt);
        object Turn(string from, string value) => new { id = "x", conversations = new[] { new { from, value } } };
        File.WriteAllText(Path.Combine(sharegpt, "ShareGPT_V3_filtered_1000.json"), JsonSerializer.Serialize(
            Enumerable.Range(0, 100).Select(i => Turn("human", $"Benchmark question {i}?"))
                .Concat(Enumerable.Range(0, 12).Select(i => Turn("human", $"Tell me about the {Things[i % 8]} of {Names[i % 8]}.")))
                .ToList<object>()));
        File.WriteAllText(Path.Combine(sharegpt, "sg_90k_part1_html_cleaned_lang_first_sampled_sorted.json"), JsonSerializer.Serialize(
            new object[] { Turn("human", " "), Turn("gpt", "I am a model."), new { id = "y", conversations = Array.Empty<object>() },
                Turn("human", "Why is the sky blue?") }));
        return root;
    }

    /// <summary>A few documents of every broad source, in the layouts of the data folder's README.</summary>
    static void WriteBroadSources(string corpora)
    {
        string Dir(string name) => Directory.CreateDirectory(Path.Combine(corpora, name)).FullName;
        // Two books: one of 40 paragraphs (cut into chunks), one short.
        File.WriteAllText(Path.Combine(Dir("gutenberg"), "gutenberg-00.txt"),
            string.Join("\n\n", Enumerable.Range(0, 40).Select(i => Story(i) + " " + new string('x', 300)))
            + "\n<|endoftext|>\n" + "The end of a short book.");
        File.WriteAllText(Path.Combine(Dir("wikipedia"), "wikipedia-00.txt"),
            "Lily (cat)\nLily is a cat.\nShe likes balls.\n<|endoftext|>\nBen\nBen is a dog.");
        File.WriteAllText(Path.Combine(Dir("wikinews"), "wikinews-00.txt"), "Dog finds ball\nA dog found a ball today.");
        string instruct = Dir("instruct");
        File.WriteAllLines(Path.Combine(instruct, "gpteacher.jsonl"),
        [
            JsonSerializer.Serialize(new { instruction = "Add the numbers.", input = "2 and 3", response = "5", source = "gpteacher-codegen" }),
            JsonSerializer.Serialize(new { instruction = "Say hi.", input = "", response = "Hi! </s> is text here.", source = "gpteacher-roleplay" }),
        ]);
        File.WriteAllLines(Path.Combine(instruct, "topical_chat_valid_freq.jsonl"),
        [
            JsonSerializer.Serialize(new
            {
                conversation_id = "t_1",
                turns = new[] { new { agent = "agent_1", message = "Do you like cats?" }, new { agent = "agent_2", message = "Yes, a lot. " },
                    new { agent = "agent_1", message = "Me too." } },
            }),
        ]);
        File.WriteAllText(Path.Combine(Dir("code"), "thealgorithms-python-00.txt"),
            "# file: maths/add.py\ndef add(a, b):\n    return a + b\n\n# file: maths/sub.py\ndef sub(a, b):\n    return a - b\n");
    }

    static string Story(int i) =>
        $"{Names[i % 8]} had a {Things[(i / 8) % 8]}. One day the {Things[(i / 8) % 8]} was lost. " +
        $"{Names[i % 8]} felt {Feelings[i % 6]}. Then {Names[(i + 3) % 8]} found it, and they played all day. Story {i}.";
}
