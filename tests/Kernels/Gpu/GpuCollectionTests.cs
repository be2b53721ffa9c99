using System.Reflection;

namespace RawFlipFlop.Tests.Kernels.Gpu;

/// <summary>The GPU tests stay in their one non-parallel collection (see <see cref="GpuCollection"/>).</summary>
[Trait("Category", "Cpu")]
public class GpuCollectionTests
{
    [Fact]
    public void Every_gpu_test_class_is_in_the_gpu_collection()
    {
        var gpuClasses = typeof(GpuCollection).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false })
            .Where(t => t.GetCustomAttributes<TraitAttribute>(inherit: true).Any(a => a is { Name: "Category", Value: "Gpu" }))
            .ToList();
        Assert.NotEmpty(gpuClasses);
        var outside = gpuClasses.Where(t => t.GetCustomAttribute<CollectionAttribute>(inherit: true)?.Name != GpuCollection.Name);
        Assert.Empty(outside.Select(t => t.FullName));
    }
}
