using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Kernels.Cuda;

/// <summary>
/// One kernel on one architecture: ptxas's resource usage, the dynamic shared memory it is launched with, the
/// theoretical occupancy at its block size (static plus dynamic shared memory), and its SASS instruction mix when asked for.
/// </summary>
public sealed record KernelReportRow(KernelResources Resources, int BlockSize, Occupancy Occupancy, int DynamicSharedBytes = 0, SassMix? Sass = null)
{
    public string Kernel => Resources.Kernel;
    public string Architecture => Resources.Architecture;
    public bool Spills => Resources.SpillStores > 0 || Resources.SpillLoads > 0;
}

/// <summary>
/// Compiles a kernel source with NVRTC for each architecture with ptxas's verbose output and reports, per kernel
/// of the kernel table, registers, spills, shared memory and occupancy, and with <see cref="CudaTools"/> the
/// instruction mix of its SASS (<see cref="SassReport"/>). Needs NVRTC, not a GPU.
/// </summary>
public static class KernelReport
{
    public static readonly IReadOnlyList<string> DefaultArchitectures = ["sm_80", "sm_90"];

    public static IReadOnlyList<KernelReportRow> Build(KernelSource source, IEnumerable<string> architectures, bool useCache = true,
        CudaTools? sass = null)
    {
        var rows = new List<KernelReportRow>();
        foreach (var arch in architectures)
        {
            if (!arch.StartsWith("sm_", StringComparison.Ordinal))
                throw new ArgumentException($"'{arch}' is not a real architecture (sm_XY)");
            var limits = SmLimits.For(arch);
            var module = KernelCompiler.Compile(source, arch, verbose: true, useCache: useCache);
            var resources = PtxasReport.Parse(module.Log).ToDictionary(r => r.Kernel);
            var mixes = sass == null ? null : SassReport.Disassemble(module.Image, arch, sass);
            foreach (var entry in source.Table)
            {
                if (!resources.TryGetValue(entry.Name, out var r))
                    throw new InvalidOperationException($"ptxas reported nothing for kernel {entry.Name} on {arch}; the log was:\n{module.Log}");
                SassMix? mix = null;
                if (mixes != null && !mixes.TryGetValue(entry.Name, out mix))
                    throw new SassException($"cuobjdump printed no SASS for kernel {entry.Name} on {arch}");
                int dynamicShared = TensorCoreGeometry.DynamicSharedBytes(source, entry.Name);
                rows.Add(new KernelReportRow(r, entry.BlockThreads, Occupancy.Compute(limits, r.Registers, r.SharedBytes + dynamicShared, entry.BlockThreads),
                    dynamicShared, mix));
            }
        }
        return rows;
    }
}
