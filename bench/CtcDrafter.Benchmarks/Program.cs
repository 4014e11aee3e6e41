using BenchmarkDotNet.Running;
using CtcDrafter.Benchmarks;
using CtcDrafter.Kernels;

// dotnet run -c Release -- --quick [threads] [calls] [formats, e.g. F32,Q8] [ROWSxCOLS]   a quick console table
// dotnet run -c Release -- accuracy --model PATH [--dtype q8|q4]   int8 against fp32 activations, same weights (JSON)
// dotnet run -c Release -- llamacpp --model FILE.gguf [--threads N] [--context C]   the engine beside llama.cpp (JSON)
// dotnet run -c Release -- [BenchmarkDotNet arguments]  the full benchmarks
if (args.Length > 0 && args[0] == "accuracy")
{
    return ActivationAccuracy.Run(args[1..]);
}
if (args.Length > 0 && args[0] == "llamacpp")
{
    return LlamaCppComparison.Run(args[1..]);
}
if (args.Length > 0 && args[0] == "--quick")
{
    int threads = args.Length > 1 ? int.Parse(args[1]) : Environment.ProcessorCount;
    int calls = args.Length > 2 ? int.Parse(args[2]) : 200;
    WeightFormat[] formats = args.Length > 3
        ? args[3].Split(',').Select(Enum.Parse<WeightFormat>).ToArray()
        : Enum.GetValues<WeightFormat>().Where(f => f != WeightFormat.Q6K).ToArray(); // Q6K holds GGUF Q6_K tensors only
    int[] shape = args.Length > 4 ? args[4].Split('x').Select(int.Parse).ToArray() : [MatMulBenchmarks.Rows, MatMulBenchmarks.Cols];
    QuickRun.Run(threads, calls, formats, shape[0], shape[1]);
}
else
{
    BenchmarkSwitcher.FromAssembly(typeof(MatMulBenchmarks).Assembly).Run(args);
}
return 0;
