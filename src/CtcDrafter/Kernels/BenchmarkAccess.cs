using System.Runtime.CompilerServices;

// The kernels are measured by bench/CtcDrafter.Benchmarks.
[assembly: InternalsVisibleTo("CtcDrafter.Benchmarks")]
