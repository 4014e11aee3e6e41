using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using TorchSharp;

namespace CtcDrafter.Training.Pretraining;

/// <summary>
/// A run's checkpoint (pretraining or draft training), one file: magic, payload length, payload (state JSON, module
/// weights, optimizer state) and a SHA-256 of the payload. It is written to a temporary file and renamed over the old one, so a run killed at any
/// moment leaves either the previous or the new checkpoint, and a truncated or damaged file is recognised.
/// </summary>
internal static class Checkpoint
{
    public const string FileName = "checkpoint.bin";
    static readonly byte[] Magic = "CTCDRAFTER-CKPT1"u8.ToArray();

    public static string PathIn(string runFolder) => Path.Combine(runFolder, FileName);

    public static void Save<TState>(string runFolder, TState state, torch.nn.Module model, torch.optim.Optimizer optimizer)
    {
        var payload = new MemoryStream();
        using (var writer = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(JsonSerializer.Serialize(state, PretrainConfig.Json));
            model.save(writer);
            ((TorchSharp.Modules.OptimizerHelper)optimizer).save_state_dict(writer);
        }
        byte[] bytes = payload.GetBuffer();
        int length = (int)payload.Length;

        string path = PathIn(runFolder);
        string temp = path + ".tmp";
        try
        {
            Directory.CreateDirectory(runFolder);
            using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write))
            {
                file.Write(Magic);
                file.Write(BitConverter.GetBytes((long)length));
                file.Write(bytes, 0, length);
                file.Write(SHA256.HashData(bytes.AsSpan(0, length)));
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrainingInputException($"cannot write checkpoint {path}: {e.Message}", e);
        }
    }

    /// <summary>Reads the state of a checkpoint; <see cref="LoadTensors"/> then fills a model and an optimizer.</summary>
    public static (TState State, byte[] Payload, int TensorsOffset) Read<TState>(string runFolder) where TState : class
    {
        string path = PathIn(runFolder);
        if (!File.Exists(path)) throw new TrainingInputException($"no checkpoint to resume from: {path} not found");
        byte[] file = File.ReadAllBytes(path);
        if (file.Length < Magic.Length + 8 + 32 || !file.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new TrainingInputException($"corrupt checkpoint {path}: not a checkpoint file");
        long length = BitConverter.ToInt64(file, Magic.Length);
        int start = Magic.Length + 8;
        if (length < 0 || start + length + 32 != file.Length)
            throw new TrainingInputException($"corrupt checkpoint {path}: truncated or extended ({file.Length} bytes)");
        byte[] payload = file[start..(start + (int)length)];
        if (!SHA256.HashData(payload).AsSpan().SequenceEqual(file.AsSpan(start + (int)length, 32)))
            throw new TrainingInputException($"corrupt checkpoint {path}: checksum mismatch");

        using var reader = new BinaryReader(new MemoryStream(payload), Encoding.UTF8);
        TState? state;
        try
        {
            state = JsonSerializer.Deserialize<TState>(reader.ReadString(), PretrainConfig.Json);
        }
        catch (Exception e) when (e is JsonException or EndOfStreamException)
        {
            throw new TrainingInputException($"corrupt checkpoint {path}: bad state ({e.Message})");
        }
        if (state is null) throw new TrainingInputException($"corrupt checkpoint {path}: empty state");
        return (state, payload, (int)reader.BaseStream.Position);
    }

    public static void LoadTensors(byte[] payload, int offset, torch.nn.Module model, torch.optim.Optimizer optimizer)
    {
        using var reader = new BinaryReader(new MemoryStream(payload, offset, payload.Length - offset), Encoding.UTF8);
        model.load(reader, strict: true);
        ((TorchSharp.Modules.OptimizerHelper)optimizer).load_state_dict(reader);
    }
}
