using System.Text.Json.Nodes;
using CtcDrafter.Model;
using CtcDrafter.Tests.Model;

namespace CtcDrafter.Tests.DraftCheckpoints;

/// <summary>
/// Draft checkpoints in the official layouts written by Fixtures/write_drafts.py with Debian's python3-torch
/// (real torch.save zips and safetensors files, random weights bound to a small generated base), with the
/// next-token distributions its own PyTorch implementation of each module computes. Written once per test run.
/// </summary>
sealed class DraftFixtures
{
    static readonly Lazy<string?> Missing = new(() => PythonScripts.Missing("torch", "python3-torch", "the draft checkpoint fixtures"));
    static readonly Lazy<DraftFixtures> Written = new(() => new DraftFixtures());

    public static string? MissingReason => Missing.Value;
    public static DraftFixtures Get => Written.Value;

    readonly TempDir _dir = new();

    /// <summary>The base the checkpoints belong to: hidden 64, vocabulary 97.</summary>
    public string Base { get; }
    /// <summary>Another base: hidden 32.</summary>
    public string OtherBase { get; }
    /// <summary>A base of the same width and vocabulary with 8 layers (EAGLE-3's drafts).</summary>
    public string DeepBase { get; }
    public JsonObject Expected { get; }

    public string Checkpoint(string name) => Path.Combine(_dir.Path, "out", name);

    DraftFixtures()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => _dir.Dispose();
        Base = TestModels.Write(_dir, TestModels.Small(), name: "base");
        OtherBase = TestModels.Write(_dir, RandomModel.Config(hidden: 32, ffn: 48, layers: 1, heads: 2, kvHeads: 1, vocab: 97, context: 256), name: "other");
        DeepBase = TestModels.Write(_dir, RandomModel.Config(hidden: 64, ffn: 96, layers: 8, heads: 4, kvHeads: 2, vocab: 97, context: 256), name: "deep");
        var r = PythonScripts.Run(PythonScripts.Fixture("write_drafts.py"), Base, Path.Combine(_dir.Path, "out"), DeepBase);
        if (r.ExitCode != 0) throw new InvalidOperationException($"write_drafts.py failed: {r.Stderr}");
        Expected = (JsonObject)JsonNode.Parse(File.ReadAllText(Checkpoint("expected.json")))!;
    }

    public int[] Tokens => Expected["tokens"]!.AsArray().Select(t => (int)t!).ToArray();
    public float[] Features => Rows("features");
    public int Root => (int)Expected["root"]!;

    /// <summary>Rows of floats under <paramref name="key"/>, flattened.</summary>
    public float[] Rows(string key) => Expected[key]!.AsArray().SelectMany(row => row!.AsArray().Select(v => (float)v!)).ToArray();

    /// <summary>The distributions the script computed for <paramref name="key"/>: [depth or head][vocab].</summary>
    public float[][] Distributions(string key) =>
        Expected[key]!.AsArray().Select(d => d!.AsArray().Select(v => (float)v!).ToArray()).ToArray();
}

/// <summary>A fact skipped, with the reason, when python3-torch is absent.</summary>
public sealed class TorchFactAttribute : FactAttribute
{
    public TorchFactAttribute()
    {
        if (DraftFixtures.MissingReason is { } reason) Skip = reason;
    }
}

/// <summary>A theory skipped, with the reason, when python3-torch is absent.</summary>
public sealed class TorchTheoryAttribute : TheoryAttribute
{
    public TorchTheoryAttribute()
    {
        if (DraftFixtures.MissingReason is { } reason) Skip = reason;
    }
}
