namespace CtcDrafter.Training.Export;

/// <summary>Tensor element types the exporters write.</summary>
internal enum ExportDType { BFloat16, Float32 }
