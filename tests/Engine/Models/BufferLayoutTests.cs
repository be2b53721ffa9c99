using RawFlipFlop.Engine.Models;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Engine.Models;

[Trait("Category", "Cpu")]
public sealed class BufferLayoutTests
{
    [Fact]
    public void EntriesFollowOneAnotherInDeclarationOrder()
    {
        var layout = new BufferLayout();
        var a = layout.Add("a", 2, 3);
        var empty = layout.Add("empty", 0, 5);
        var b = layout.Add("b", 4);
        var scalar = layout.Add("scalar");
        Assert.Equal([(0L, 6L), (6L, 0L), (6L, 4L), (10L, 1L)], new[] { a, empty, b, scalar }.Select(e => (e.Offset, e.Count)));
        Assert.Equal(11, layout.Count);
        Assert.Equal([a, empty, b, scalar], layout.Entries);
        Assert.Equal([2L, 3], a.Shape);
        Assert.Equal(10, b.End);
    }

    [Fact]
    public void SlicingABufferByAnEntryGivesItsView()
    {
        var layout = new BufferLayout();
        layout.Add("first", 3);
        var second = layout.Add("second", 2, 2);
        var buffer = new Buf<double>(0x1000, layout.Count);
        var view = buffer.Slice(second);
        Assert.Equal((0x1000 + 3 * sizeof(double), 4L), (view.Address, view.Length));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Buf<double>(0x1000, 5).Slice(second));
    }

    [Fact]
    public void PerLayerEntriesAreNamedAndAdjacent()
    {
        var layout = new BufferLayout();
        var entries = layout.AddPerLayer(3, "ln1", 4, 2);
        Assert.Equal(["layers.0.ln1", "layers.1.ln1", "layers.2.ln1"], entries.Select(e => e.Name));
        Assert.Equal([0L, 8, 16], entries.Select(e => e.Offset));
        Assert.Equal(24, layout.Count);
    }

    [Fact]
    public void ADuplicateNameIsRefusedAndLeavesTheLayoutAsItWas()
    {
        var layout = new BufferLayout();
        layout.Add("x", 3);
        Assert.Contains("x is declared twice", Assert.Throws<ArgumentException>(() => layout.Add("x", 4)).Message);
        Assert.Equal((1, 3L), (layout.Entries.Count, layout.Count));
        var parameters = new ParameterLayout();
        parameters.Add("w", [2, 2], InitKind.Ones);
        Assert.Throws<ArgumentException>(() => parameters.Add("w", [2], InitKind.Zeros));
        Assert.Single(parameters.Tensors);
    }

    [Fact]
    public void SizesThatOverflowALongAreRefused()
    {
        var layout = new BufferLayout();
        var e = Assert.Throws<OverflowException>(() => layout.Add("huge", long.MaxValue / 2 + 1, 2));
        Assert.Contains("huge", e.Message);
        layout.Add("big", long.MaxValue - 1);
        Assert.Contains("one", Assert.Throws<OverflowException>(() => layout.Add("one", 2)).Message);
        Assert.Equal((1, long.MaxValue - 1), (layout.Entries.Count, layout.Count));
        Assert.Throws<ArgumentOutOfRangeException>(() => layout.Add("negative", 3, -1));
    }

    [Fact]
    public void AdjacentEntriesStackAlongTheFirstAxis()
    {
        var layout = new BufferLayout();
        layout.Add("before", 5);
        var q = layout.Add("q", 4, 4);
        var k = layout.Add("k", 4, 4);
        var v = layout.Add("v", 4, 4);
        var qkv = LayoutEntry.Stack("qkv", q, k, v);
        Assert.Equal(("qkv", 5L, 48L), (qkv.Name, qkv.Offset, qkv.Count));
        Assert.Equal([12L, 4], qkv.Shape);
        Assert.Contains("does not start where", Assert.Throws<ArgumentException>(() => LayoutEntry.Stack("qv", q, v)).Message);
        var wide = layout.Add("wide", 4, 8);
        Assert.Contains("has shape (4,8)", Assert.Throws<ArgumentException>(() => LayoutEntry.Stack("vw", v, wide)).Message);
    }
}
