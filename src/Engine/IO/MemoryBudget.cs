using System.Globalization;

namespace RawFlipFlop.Engine.IO;

/// <summary>
/// Up-front memory checks for large buffers, so that an impossible size is refused with "needs N GiB, M available"
/// before anything is allocated, rather than ending in an out-of-memory abort halfway through.
/// </summary>
public static class MemoryBudget
{
    /// <summary>Host memory that can still be allocated: MemAvailable (Linux), else what the runtime reports.</summary>
    public static long AvailableBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                {
                    var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return long.Parse(parts[1], CultureInfo.InvariantCulture) * 1024;
                }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }

    /// <summary>
    /// Throws <see cref="InsufficientMemoryException"/> when <paramref name="bytes"/> (computed with checked arithmetic
    /// by the caller, or <see cref="long.MaxValue"/> on overflow) exceed what is available. <paramref name="what"/>
    /// names the option or file and the buffer, e.g. "--count: 10^9 sequences of length 512".
    /// </summary>
    public static void Require(long bytes, string what, long? available = null)
    {
        long have = available ?? AvailableBytes();
        if (bytes > have)
            throw new InsufficientMemoryException($"{what} need {Gib(bytes)}, {Gib(have)} available");
    }

    /// <summary>a * b * ... in bytes, or long.MaxValue when the product overflows.</summary>
    public static long Product(params long[] factors)
    {
        long p = 1;
        foreach (var f in factors)
        {
            if (f < 0) throw new ArgumentOutOfRangeException(nameof(factors), $"negative size {f}");
            try { p = checked(p * f); }
            catch (OverflowException) { return long.MaxValue; }
        }
        return p;
    }

    public static string Gib(long bytes) => bytes == long.MaxValue ? "more than 8 EiB"
        : bytes >= 1L << 30 ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.#} GiB")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0.#} MiB");
}
