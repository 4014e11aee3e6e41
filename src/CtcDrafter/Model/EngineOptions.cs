using CtcDrafter.Kernels;

namespace CtcDrafter.Model;

/// <summary>Engine knobs, separate from the model's own config.</summary>
/// <param name="Format">Runtime weight format.</param>
/// <param name="Threads">Worker threads for the kernels (0 = all cores).</param>
/// <param name="ContextLength">KV cache capacity in tokens (0 = the model's maximum context).</param>
public sealed record EngineOptions(WeightFormat Format = WeightFormat.F32, int Threads = 0, int ContextLength = 0);
