namespace RawFlipFlop.Kernels.Cuda;

/// <summary>An NVRTC found on the machine: where, and the CUDA version it reports (nvrtcVersion).</summary>
public sealed record NvrtcCandidate(string Path, Version Version)
{
    public override string ToString() => $"NVRTC {Version} ({Path})";
}

/// <summary>The NVRTCs to try, best first, and those left out with the reason.</summary>
public sealed record NvrtcPlan(IReadOnlyList<NvrtcCandidate> Order, IReadOnlyList<(NvrtcCandidate Candidate, string Reason)> LeftOut);

/// <summary>
/// Which NVRTC to use with a driver. Code from an NVRTC newer than the driver may not load (its PTX always
/// needs a driver at least as new), so the order is: the candidates no newer than the driver's CUDA version,
/// newest first; then those newer only in the minor version, oldest first, as a last resort (CUDA's minor version
/// compatibility lets their cubins load); those of a newer major version are left out. Without a driver (e.g.
/// compiling for a report) every candidate is usable, newest first. Equal versions keep the order found.
/// </summary>
public static class NvrtcSelection
{
    public static NvrtcPlan Choose(IReadOnlyList<NvrtcCandidate> candidates, Version? driver)
    {
        if (driver == null) return new NvrtcPlan(candidates.OrderByDescending(c => MajorMinor(c.Version)).ToList(), []);
        var cuda = MajorMinor(driver);
        var supported = candidates.Where(c => MajorMinor(c.Version) <= cuda).OrderByDescending(c => MajorMinor(c.Version));
        var newerMinor = candidates.Where(c => MajorMinor(c.Version) > cuda && c.Version.Major == cuda.Major).OrderBy(c => MajorMinor(c.Version));
        var leftOut = candidates.Where(c => c.Version.Major > cuda.Major)
            .Select(c => (c, $"NVRTC {MajorMinor(c.Version)} is newer than the driver, which supports CUDA {cuda}")).ToList();
        return new NvrtcPlan([.. supported, .. newerMinor], leftOut);
    }

    /// <summary>The CUDA version of a driver from cuDriverGetVersion (1000 × major + 10 × minor).</summary>
    public static Version DriverVersion(int cuDriverGetVersion) => new(cuDriverGetVersion / 1000, cuDriverGetVersion % 1000 / 10);

    static Version MajorMinor(Version v) => new(v.Major, Math.Max(0, v.Minor));
}
