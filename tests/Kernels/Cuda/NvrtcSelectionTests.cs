using RawFlipFlop.Kernels.Cuda;

namespace RawFlipFlop.Tests.Kernels.Cuda;

/// <summary>Which NVRTC goes with which driver (pure: versions in, order out).</summary>
[Trait("Category", "Cpu")]
public class NvrtcSelectionTests
{
    static NvrtcCandidate C(string version, string? path = null) => new(path ?? $"libnvrtc-{version}", Version.Parse(version));

    static string[] Versions(IEnumerable<NvrtcCandidate> candidates) => [.. candidates.Select(c => c.Version.ToString())];

    [Fact]
    public void The_newest_no_newer_than_the_driver_comes_first_then_older_ones()
    {
        var plan = NvrtcSelection.Choose([C("11.8"), C("13.0"), C("12.2"), C("12.4"), C("12.6")], new Version(12, 4));
        Assert.Equal(["12.4", "12.2", "11.8", "12.6"], Versions(plan.Order));
        var (leftOut, reason) = Assert.Single(plan.LeftOut);
        Assert.Equal("13.0", leftOut.Version.ToString());
        Assert.Contains("newer than the driver", reason);
        Assert.Contains("CUDA 12.4", reason);
    }

    [Fact]
    public void A_newer_minor_version_is_only_a_last_resort_oldest_first()
    {
        Assert.Equal(["11.8"], Versions(NvrtcSelection.Choose([C("11.8")], new Version(11, 4)).Order));
        Assert.Equal(["11.2", "11.6", "11.8"], Versions(NvrtcSelection.Choose([C("11.8"), C("11.6"), C("11.2")], new Version(11, 2)).Order));
    }

    [Fact]
    public void A_newer_major_version_is_never_used()
    {
        var plan = NvrtcSelection.Choose([C("12.0"), C("13.1")], new Version(11, 8));
        Assert.Empty(plan.Order);
        Assert.Equal(["12.0", "13.1"], Versions(plan.LeftOut.Select(l => l.Candidate)));
        Assert.All(plan.LeftOut, l => Assert.Contains("CUDA 11.8", l.Reason));
    }

    [Fact]
    public void Without_a_driver_every_candidate_is_usable_newest_first()
    {
        var plan = NvrtcSelection.Choose([C("11.8"), C("13.0"), C("12.4")], driver: null);
        Assert.Equal(["13.0", "12.4", "11.8"], Versions(plan.Order));
        Assert.Empty(plan.LeftOut);
    }

    [Fact]
    public void Equal_versions_keep_the_order_they_were_found_in()
    {
        var plan = NvrtcSelection.Choose([C("12.4", "/opt/a"), C("12.4", "/opt/b"), C("12.6", "/opt/c")], new Version(12, 8));
        Assert.Equal(["/opt/c", "/opt/a", "/opt/b"], plan.Order.Select(c => c.Path));
        Assert.Empty(NvrtcSelection.Choose([], new Version(12, 0)).Order);
    }

    [Fact]
    public void Driver_versions_decode()
    {
        Assert.Equal(new Version(12, 4), NvrtcSelection.DriverVersion(12040));
        Assert.Equal(new Version(11, 8), NvrtcSelection.DriverVersion(11080));
        Assert.Equal(new Version(13, 0), NvrtcSelection.DriverVersion(13000));
    }
}
