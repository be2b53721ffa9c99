using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RawFlipFlop.Kernels.Cuda;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>`kernels report`: what ptxas makes of kernels.cu, without a GPU; with --sass, the instruction mix of the SASS.</summary>
public static class KernelCommands
{
    public static Command Build(CliOutput output)
    {
        var kernels = new Command("kernels", "Inspect the CUDA kernels of kernels.cu.");
        kernels.Add(Report(output));
        return kernels;
    }

    static Command Report(CliOutput output)
    {
        var arch = new Option<string>("--arch") { Description = "comma-separated real architectures", DefaultValueFactory = _ => string.Join(',', KernelReport.DefaultArchitectures) };
        var json = new Option<bool>("--json") { Description = "a JSON list of {kernel, arch, registers, spill_stores, spill_loads, shared_bytes, dynamic_shared_bytes, block_size, occupancy, ...}" };
        var check = new Option<bool>("--check") { Description = "exit 1 when any kernel spills registers (with --sass also when a tensor-core kernel's SASS has no HMMA)" };
        var noCache = new Option<bool>("--no-cache") { Description = "compile even when the kernel cache has the result" };
        var sass = new Option<bool>("--sass")
        {
            Description = "also disassemble the cubins (nvdisasm) and count each kernel's SASS instructions: HMMA, FFMA, LDS/LDSM, " +
                          "LDG/LDGSTS, integer, barriers, other, total (static counts, not executed ones); the registers and local memory the " +
                          "cubin records (cuobjdump -res-usage) go into the JSON",
        };
        var tools = new Option<string>("--cuda-tools")
        {
            Description = $"directory holding cuobjdump and nvdisasm for --sass (default: ${CudaTools.EnvironmentVariable}, then PATH, then " +
                          $"{string.Join(", ", CudaTools.StandardDirectories)})",
        };
        var cmd = new Command("report",
            "Compile kernels.cu with NVRTC for each architecture (ptxas -v) and print, per kernel, registers, spill stores/loads, " +
            "shared memory (static and dynamic) and theoretical occupancy at the kernel's block size; with --sass, its SASS instruction mix. " +
            "Needs libnvrtc (and for --sass cuobjdump and nvdisasm), not a GPU.")
        {
            arch, json, check, noCache, sass, tools,
        };
        cmd.SetAction(r =>
        {
            var archs = r.GetValue(arch)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (archs.Length == 0) throw new CliException("--arch: names no architecture");
            foreach (var a in archs)
                if (!SmLimits.KnownArchitectures.Contains(a))
                    throw new CliException($"--arch: unknown architecture '{a}' (known: {string.Join(", ", SmLimits.KnownArchitectures)})");
            bool withSass = r.GetValue(sass);
            string? toolsDir = r.GetValue(tools);
            if (toolsDir != null && !withSass) throw new CliException("--cuda-tools: applies only with --sass");
            CudaTools? found = null;
            if (toolsDir != null)
                found = CudaTools.InDirectory(toolsDir, out string problem) ?? throw new CliException($"--cuda-tools: {problem}; {CudaTools.HowToGet}");
            else if (withSass)
                found = CudaTools.Find(out string reason) ?? throw new CliException($"--sass: {reason}", ExitCodes.Failure);
            if (!Nvrtc.IsAvailable(out string nvrtcReason)) throw new CliException(nvrtcReason, ExitCodes.Failure);
            var watch = Stopwatch.StartNew();
            IReadOnlyList<KernelReportRow> rows;
            try
            {
                rows = KernelReport.Build(KernelSource.Default, archs, useCache: !r.GetValue(noCache), sass: found);
            }
            catch (NvrtcException e)
            {
                throw new CliException(e.Message, ExitCodes.Failure);
            }
            catch (SassException e)
            {
                throw new CliException($"--sass: {e.Message}", ExitCodes.Failure);
            }
            if (r.GetValue(json)) WriteJson(output.Out, rows);
            else WriteTable(output.Out, rows);
            output.Err.WriteLine($"NVRTC {Nvrtc.Version} ({Nvrtc.LibraryPath}), {archs.Length} architecture(s) in {watch.Elapsed.TotalSeconds:0.00} s" +
                                 (found != null ? $"; SASS by {found.Nvdisasm} (static instruction counts), resources by {found.Cuobjdump} -res-usage" : ""));
            bool failed = false;
            foreach (var row in rows.Where(row => row.Spills))
            {
                output.Err.WriteLine($"{row.Kernel} spills on {row.Architecture}: {row.Resources.SpillStores} bytes stored, {row.Resources.SpillLoads} bytes loaded");
                failed = true;
            }
            foreach (var row in rows.Where(row => row.Sass is { LocalBytes: > 0 }))
            {
                output.Err.WriteLine($"{row.Kernel} uses {row.Sass!.LocalBytes} bytes of local memory per thread on {row.Architecture} (cuobjdump -res-usage)");
                failed = true;
            }
            foreach (var row in rows.Where(row => row.Sass != null && TensorCoreGeometry.IsTensorCoreKernel(row.Kernel) && row.Sass.Group("HMMA") == 0))
            {
                output.Err.WriteLine($"{row.Kernel} has no HMMA instruction in its {row.Architecture} SASS: it does not run on tensor cores");
                failed = true;
            }
            return failed && r.GetValue(check) ? ExitCodes.Failure : 0;
        });
        return cmd;
    }

    static void WriteTable(TextWriter w, IReadOnlyList<KernelReportRow> rows)
    {
        int width = Math.Max("kernel".Length, rows.Select(r => r.Kernel.Length).DefaultIfEmpty(0).Max());
        bool sass = rows.Any(r => r.Sass != null);
        string header = $"{"kernel".PadRight(width)}  arch   block  regs  spill st  spill ld  smem B  dyn smem B  stack B  occupancy";
        string sassHeader = sass ? "   " + string.Join("", SassMix.Groups.Select(g => g.Name.PadLeft(6))) + "  other  total" : "";
        w.WriteLine(header + (sass ? new string(' ', 38 - "occupancy".Length) + sassHeader : ""));
        w.WriteLine(new string('-', header.Length + 29 + sassHeader.Length));
        foreach (var r in rows)
        {
            var o = r.Occupancy;
            string occupancy = string.Create(CultureInfo.InvariantCulture, $"{o.Fraction * 100,4:0}% ({o.BlocksPerSm} blocks/SM, {o.WarpsPerSm} warps; by {o.Limiter})");
            string line = string.Create(CultureInfo.InvariantCulture,
                $"{r.Kernel.PadRight(width)}  {r.Architecture,-5} {r.BlockSize,6} {r.Resources.Registers,5} {r.Resources.SpillStores,9} {r.Resources.SpillLoads,9} {r.Resources.SharedBytes,7} {r.DynamicSharedBytes,11} {r.Resources.StackBytes,8}  ");
            if (r.Sass is { } mix)
                line += occupancy.PadRight(38) + "   " + string.Join("", SassMix.Groups.Select(g => mix.Group(g.Name).ToString(CultureInfo.InvariantCulture).PadLeft(6))) +
                        mix.Other.ToString(CultureInfo.InvariantCulture).PadLeft(7) + mix.Total.ToString(CultureInfo.InvariantCulture).PadLeft(7);
            else line += occupancy;
            w.WriteLine(line);
        }
    }

    static void WriteJson(TextWriter w, IReadOnlyList<KernelReportRow> rows)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartArray();
            foreach (var r in rows)
            {
                json.WriteStartObject();
                json.WriteString("kernel", r.Kernel);
                json.WriteString("arch", r.Architecture);
                json.WriteNumber("registers", r.Resources.Registers);
                json.WriteNumber("spill_stores", r.Resources.SpillStores);
                json.WriteNumber("spill_loads", r.Resources.SpillLoads);
                json.WriteNumber("shared_bytes", r.Resources.SharedBytes);
                json.WriteNumber("dynamic_shared_bytes", r.DynamicSharedBytes);
                json.WriteNumber("stack_bytes", r.Resources.StackBytes);
                json.WriteNumber("block_size", r.BlockSize);
                json.WriteNumber("occupancy", Math.Round(r.Occupancy.Fraction, 4));
                json.WriteNumber("blocks_per_sm", r.Occupancy.BlocksPerSm);
                json.WriteString("occupancy_limiter", r.Occupancy.Limiter);
                if (r.Sass is { } mix)
                {
                    json.WriteStartObject("sass");
                    foreach (var (name, _) in SassMix.Groups) json.WriteNumber(name.ToLowerInvariant(), mix.Group(name));
                    json.WriteNumber("other", mix.Other);
                    json.WriteNumber("total", mix.Total);
                    json.WriteNumber("registers", mix.Registers);
                    json.WriteNumber("stack_bytes", mix.StackBytes);
                    json.WriteNumber("local_bytes", mix.LocalBytes);
                    json.WriteStartObject("opcodes");
                    foreach (var (op, count) in mix.Opcodes.OrderBy(p => p.Key, StringComparer.Ordinal)) json.WriteNumber(op, count);
                    json.WriteEndObject();
                    json.WriteEndObject();
                }
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        w.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }
}
