using CtcDrafter.Model;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Export;

/// <summary>
/// TorchSharp tensors as entries of the engine's safetensors writer: in ordinal name order (a deterministic
/// file), F32 or BF16 (rounded to nearest even). <see cref="Metadata"/> is the header metadata Hugging Face
/// transformers requires.
/// </summary>
internal static class TensorEntries
{
    public static readonly IReadOnlyDictionary<string, string> Metadata = new Dictionary<string, string> { ["format"] = "pt" };

    public static List<SafeTensorsWriter.Entry> From(IReadOnlyDictionary<string, Tensor> tensors, ExportDType dtype) =>
        tensors.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => Entry(t.Key, t.Value, dtype)).ToList();

    public static SafeTensorsWriter.Entry Entry(string name, Tensor tensor, ExportDType dtype)
    {
        using var values = tensor.detach().to(float32).contiguous().cpu();
        int[] shape = values.shape.Select(d => (int)d).ToArray();
        ReadOnlySpan<float> data = values.data<float>().ToArray();
        return dtype == ExportDType.BFloat16 ? SafeTensorsWriter.BF16(name, shape, data) : SafeTensorsWriter.F32(name, shape, data);
    }
}
