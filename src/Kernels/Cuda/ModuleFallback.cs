namespace RawFlipFlop.Kernels.Cuda;

/// <summary>One way to get the kernels onto a device (an NVRTC and an architecture) and the work that does it.</summary>
public sealed record ModuleAttempt<T>(string Description, Func<T> Run);

/// <summary>Every way to load the kernels failed; <see cref="Failures"/> has each with its reason.</summary>
public sealed class ModuleLoadException(string message, IReadOnlyList<string> failures) : InvalidOperationException(message)
{
    public IReadOnlyList<string> Failures { get; } = failures;
}

/// <summary>
/// Loads kernels the first way that works: each NVRTC in the order of <see cref="NvrtcSelection"/>, and for each a
/// cubin, then PTX for the driver to compile. A driver that rejects the image (<see cref="CudaErrors.IsIncompatibleImage"/>)
/// or an NVRTC that cannot compile it moves on to the next way; any other failure (out of memory, a broken
/// context) ends the search at once, since no other NVRTC would fix it.
/// </summary>
public static class ModuleFallback
{
    /// <summary>
    /// The result of the first attempt that succeeds. When none does, a <see cref="ModuleLoadException"/> that
    /// says what was being loaded (<paramref name="goal"/>) and lists every attempt and every candidate not tried
    /// (<paramref name="notTried"/>), each with its reason.
    /// </summary>
    public static T LoadFirst<T>(string goal, IEnumerable<ModuleAttempt<T>> attempts, IReadOnlyList<string> notTried)
    {
        var failures = new List<string>();
        foreach (var attempt in attempts)
        {
            try
            {
                return attempt.Run();
            }
            catch (CudaException e) when (CudaErrors.IsIncompatibleImage(e.Code))
            {
                failures.Add($"{attempt.Description}: {e.Message}");
            }
            catch (NvrtcException e)
            {
                failures.Add($"{attempt.Description}: {e.Message}");
            }
        }
        failures.AddRange(notTried.Select(n => $"not tried: {n}"));
        if (failures.Count == 0) failures.Add("no NVRTC to compile with");
        string list = string.Join('\n', failures.Select(f => "  - " + f.Replace("\n", "\n    ")));
        throw new ModuleLoadException($"{goal} failed every way:\n{list}", failures);
    }

    /// <summary>
    /// The attempts for a device of compute capability <paramref name="major"/>.<paramref name="minor"/>: for each
    /// NVRTC in order, its architectures (<see cref="KernelCompiler.ArchitecturesFor"/>); an NVRTC that supports
    /// none is one failing attempt that says so.
    /// </summary>
    public static IEnumerable<ModuleAttempt<T>> Attempts<T>(IReadOnlyList<NvrtcLibrary> nvrtcs, int major, int minor,
        Func<NvrtcLibrary, string, T> compileAndLoad)
    {
        foreach (var nvrtc in nvrtcs)
        {
            IReadOnlyList<string> architectures;
            string? problem = null;
            try
            {
                var supported = nvrtc.SupportedArchitectures;
                architectures = KernelCompiler.ArchitecturesFor(major, minor, supported);
                if (architectures.Count == 0)
                    problem = $"it supports none of the architectures up to sm_{major}{minor} (it knows {string.Join(", ", supported)})";
            }
            catch (NvrtcException e)
            {
                architectures = [];
                problem = e.Message;
            }
            if (problem != null)
            {
                yield return new ModuleAttempt<T>(nvrtc.ToString(), () => throw new NvrtcException(problem));
                continue;
            }
            foreach (var architecture in architectures)
            {
                string form = architecture.StartsWith("sm_", StringComparison.Ordinal) ? "cubin" : "PTX";
                yield return new ModuleAttempt<T>($"{nvrtc}, {architecture} {form}", () => compileAndLoad(nvrtc, architecture));
            }
        }
    }
}
