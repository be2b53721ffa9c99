using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RawFlipFlop.Kernels.Cuda;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>`kernels report`: what ptxas makes of kernels.cu, without a GPU.</summary>
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
        var json = new Option<bool>("--json") { Description = "a JSON list of {kernel, arch, registers, spill_stores, spill_loads, shared_bytes, block_size, occupancy, ...}" };
        var check = new Option<bool>("--check") { Description = "exit 1 when any kernel spills registers" };
        var noCache = new Option<bool>("--no-cache") { Description = "compile even when the kernel cache has the result" };
        var cmd = new Command("report",
            "Compile kernels.cu with NVRTC for each architecture (ptxas -v) and print, per kernel, registers, spill stores/loads, " +
            "static shared memory and theoretical occupancy at the kernel's block size. Needs libnvrtc, not a GPU.")
        {
            arch, json, check, noCache,
        };
        cmd.SetAction(r =>
        {
            if (!Nvrtc.IsAvailable(out string reason)) throw new CliException(reason, ExitCodes.Failure);
            var archs = r.GetValue(arch)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (archs.Length == 0) throw new CliException("--arch: names no architecture");
            foreach (var a in archs)
                if (!SmLimits.KnownArchitectures.Contains(a))
                    throw new CliException($"--arch: unknown architecture '{a}' (known: {string.Join(", ", SmLimits.KnownArchitectures)})");
            var watch = Stopwatch.StartNew();
            IReadOnlyList<KernelReportRow> rows;
            try
            {
                rows = KernelReport.Build(KernelSource.Default, archs, useCache: !r.GetValue(noCache));
            }
            catch (NvrtcException e)
            {
                throw new CliException(e.Message, ExitCodes.Failure);
            }
            if (r.GetValue(json)) WriteJson(output.Out, rows);
            else WriteTable(output.Out, rows);
            output.Err.WriteLine($"NVRTC {Nvrtc.Version} ({Nvrtc.LibraryPath}), {archs.Length} architecture(s) in {watch.Elapsed.TotalSeconds:0.00} s");
            var spilling = rows.Where(row => row.Spills).ToList();
            if (spilling.Count > 0)
            {
                foreach (var row in spilling)
                    output.Err.WriteLine($"{row.Kernel} spills on {row.Architecture}: {row.Resources.SpillStores} bytes stored, {row.Resources.SpillLoads} bytes loaded");
                if (r.GetValue(check)) return ExitCodes.Failure;
            }
            return 0;
        });
        return cmd;
    }

    static void WriteTable(TextWriter w, IReadOnlyList<KernelReportRow> rows)
    {
        int width = Math.Max("kernel".Length, rows.Select(r => r.Kernel.Length).DefaultIfEmpty(0).Max());
        string header = $"{"kernel".PadRight(width)}  arch   block  regs  spill st  spill ld  smem B  stack B  occupancy";
        w.WriteLine(header);
        w.WriteLine(new string('-', header.Length + 24));
        foreach (var r in rows)
        {
            var o = r.Occupancy;
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Kernel.PadRight(width)}  {r.Architecture,-5} {r.BlockSize,6} {r.Resources.Registers,5} {r.Resources.SpillStores,9} {r.Resources.SpillLoads,9} {r.Resources.SharedBytes,7} {r.Resources.StackBytes,8}  {o.Fraction * 100,4:0}% ({o.BlocksPerSm} blocks/SM, {o.WarpsPerSm} warps; by {o.Limiter})"));
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
                json.WriteNumber("stack_bytes", r.Resources.StackBytes);
                json.WriteNumber("block_size", r.BlockSize);
                json.WriteNumber("occupancy", Math.Round(r.Occupancy.Fraction, 4));
                json.WriteNumber("blocks_per_sm", r.Occupancy.BlocksPerSm);
                json.WriteString("occupancy_limiter", r.Occupancy.Limiter);
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        w.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }
}
