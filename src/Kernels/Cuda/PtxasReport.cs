using System.Globalization;
using System.Text.RegularExpressions;

namespace RawFlipFlop.Kernels.Cuda;

/// <summary>ptxas's resource usage of one kernel for one architecture.</summary>
public sealed record KernelResources(string Kernel, string Architecture, int Registers, int SpillStores, int SpillLoads,
    int SharedBytes, int StackBytes, int ConstantBytes);

/// <summary>Parses the log of an NVRTC compilation made with <c>--ptxas-options=-v</c>.</summary>
public static class PtxasReport
{
    /// <summary>
    /// One entry per "Compiling entry function" in the log, with the registers and static shared memory of its
    /// "Used ..." line and the stack and spills of its "Function properties" block.
    /// </summary>
    public static IReadOnlyList<KernelResources> Parse(string log)
    {
        var entries = new List<KernelResources>();
        var properties = new Dictionary<string, (int Stack, int Stores, int Loads)>(StringComparer.Ordinal);
        string? entry = null, arch = null, propertiesOf = null;
        var used = new Dictionary<string, (string Arch, int Regs, int Smem, int Cmem)>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var raw in log.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            Match m;
            if ((m = Entry.Match(line)).Success)
            {
                entry = m.Groups[1].Value;
                arch = m.Groups[2].Value;
                propertiesOf = null;
                if (!order.Contains(entry)) order.Add(entry);
            }
            else if ((m = Properties.Match(line)).Success)
                propertiesOf = m.Groups[1].Value;
            else if ((m = Spill.Match(line)).Success && propertiesOf != null)
                properties[propertiesOf] = (Int(m.Groups[1]), Int(m.Groups[2]), Int(m.Groups[3]));
            else if ((m = Used.Match(line)).Success && entry != null)
            {
                var amounts = Amount.Matches(line).ToDictionary(a => a.Groups[2].Value, a => Int(a.Groups[1]));
                used[entry] = (arch!, Int(m.Groups[1]), amounts.GetValueOrDefault("smem"), amounts.GetValueOrDefault("cmem[0]"));
            }
        }
        foreach (var name in order)
        {
            if (!used.TryGetValue(name, out var u)) continue;
            properties.TryGetValue(name, out var p);
            entries.Add(new KernelResources(name, u.Arch, u.Regs, p.Stores, p.Loads, u.Smem, p.Stack, u.Cmem));
        }
        return entries;
    }

    static int Int(Group g) => int.Parse(g.Value, CultureInfo.InvariantCulture);

    // The lines of ptxas -v that matter; parsed once per compilation, so plain regexes suffice.
    static readonly Regex Entry = new(@"Compiling entry function '([^']+)' for '([^']+)'");
    static readonly Regex Properties = new(@"Function properties for (\S+)");
    static readonly Regex Spill = new(@"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads");
    static readonly Regex Used = new(@"Used (\d+) registers");
    static readonly Regex Amount = new(@"(\d+) bytes (smem|cmem\[0\])");
}

/// <summary>Per-SM limits of an architecture, for theoretical occupancy.</summary>
public sealed record SmLimits(string Architecture, int RegistersPerSm, int MaxThreadsPerSm, int MaxBlocksPerSm,
    int SharedBytesPerSm, int ReservedSharedPerBlock, int RegisterAllocationUnit = 256, int SharedAllocationUnit = 128,
    int SubPartitions = 4, int MaxRegistersPerBlock = 65536)
{
    public int MaxWarpsPerSm => MaxThreadsPerSm / 32;

    static readonly Dictionary<string, SmLimits> s_known = new()
    {
        ["sm_70"] = new("sm_70", 65536, 2048, 32, 96 * 1024, 0),
        ["sm_75"] = new("sm_75", 65536, 1024, 16, 64 * 1024, 0),
        ["sm_80"] = new("sm_80", 65536, 2048, 32, 164 * 1024, 1024),
        ["sm_86"] = new("sm_86", 65536, 1536, 16, 100 * 1024, 1024),
        ["sm_87"] = new("sm_87", 65536, 2048, 32, 164 * 1024, 1024),
        ["sm_89"] = new("sm_89", 65536, 1536, 24, 100 * 1024, 1024),
        ["sm_90"] = new("sm_90", 65536, 2048, 32, 228 * 1024, 1024),
    };

    public static IReadOnlyCollection<string> KnownArchitectures => s_known.Keys;

    public static SmLimits For(string architecture) =>
        s_known.TryGetValue(architecture, out var l) ? l
            : throw new ArgumentException($"no occupancy limits known for {architecture} (known: {string.Join(", ", s_known.Keys)})");
}

/// <summary>Theoretical occupancy: resident blocks and warps per SM and what limits them.</summary>
public sealed record Occupancy(int BlocksPerSm, int WarpsPerSm, double Fraction, string Limiter)
{
    /// <summary>
    /// Occupancy of a kernel using <paramref name="registers"/> per thread and <paramref name="sharedBytes"/> of
    /// shared memory per block, launched with <paramref name="threadsPerBlock"/> threads (CUDA occupancy calculator
    /// rules: registers allocated per warp in units of 256, per SM sub-partition; shared memory in units of 128 bytes
    /// plus the 1 KB per block the system reserves on sm_80 and later).
    /// </summary>
    public static Occupancy Compute(SmLimits sm, int registers, int sharedBytes, int threadsPerBlock)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threadsPerBlock, 1);
        int warpsPerBlock = (threadsPerBlock + 31) / 32;
        int byThreads = Math.Min(sm.MaxBlocksPerSm, sm.MaxWarpsPerSm / warpsPerBlock);
        int byRegisters = int.MaxValue;
        if (registers > 0)
        {
            int perWarp = RoundUp(registers * 32, sm.RegisterAllocationUnit);
            if (perWarp * warpsPerBlock > sm.MaxRegistersPerBlock) byRegisters = 0;
            else
            {
                int warps = sm.RegistersPerSm / sm.SubPartitions / perWarp * sm.SubPartitions;
                byRegisters = warps / warpsPerBlock;
            }
        }
        int perBlockShared = RoundUp(sharedBytes + sm.ReservedSharedPerBlock, sm.SharedAllocationUnit);
        int byShared = perBlockShared == 0 ? int.MaxValue : sm.SharedBytesPerSm / perBlockShared;
        int blocks = Math.Min(byThreads, Math.Min(byRegisters, byShared));
        // On a tie the hardware's own limit (threads or blocks per SM) is named: nothing the kernel could change helps.
        string limiter = blocks == byThreads ? (byThreads == sm.MaxBlocksPerSm && sm.MaxWarpsPerSm / warpsPerBlock > sm.MaxBlocksPerSm ? "blocks" : "threads")
            : blocks == byRegisters ? "registers" : "shared memory";
        int activeWarps = blocks * warpsPerBlock;
        return new Occupancy(blocks, activeWarps, (double)activeWarps / sm.MaxWarpsPerSm, limiter);
    }

    static int RoundUp(int x, int unit) => (x + unit - 1) / unit * unit;
}
