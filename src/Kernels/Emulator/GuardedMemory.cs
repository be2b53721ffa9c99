using System.Runtime.InteropServices;

namespace RawFlipFlop.Kernels.Emulator;

/// <summary>
/// Host allocations between two inaccessible guard pages (Linux mmap/mprotect). The data ends 16-byte aligned at
/// the start of the trailing guard page, so an access just past the end of a buffer whose size is a multiple of 16
/// bytes faults (other sizes leave fewer than 16 bytes of slack); accesses before the start fault once they leave
/// the data's first page. Data is 16-byte aligned (what float4 needs), zeroed.
/// </summary>
internal static unsafe partial class GuardedMemory
{
    const int ProtNone = 0, ProtRead = 1, ProtWrite = 2;
    const int MapPrivate = 0x02, MapAnonymous = 0x20;
    static readonly nint MapFailed = -1;
    static readonly nuint Page = (nuint)Environment.SystemPageSize;

    public static bool Supported => OperatingSystem.IsLinux();

    /// <summary>Returns the data pointer and the mapping (base, length) to free it.</summary>
    public static (nint Data, nint Base, nuint Length) Allocate(nuint bytes)
    {
        nuint rounded = (bytes + 15) / 16 * 16;
        nuint pages = (rounded + Page - 1) / Page;
        nuint length = (pages + 2) * Page;
        nint p = mmap(0, length, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (p == MapFailed) throw new OutOfMemoryException($"mmap of {length} bytes failed (errno {Marshal.GetLastPInvokeError()})");
        if (mprotect(p, Page, ProtNone) != 0 || mprotect(p + (nint)((pages + 1) * Page), Page, ProtNone) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            munmap(p, length);
            throw new InvalidOperationException($"mprotect of a guard page failed (errno {errno})");
        }
        nint data = p + (nint)(Page + pages * Page - rounded);
        return (data, p, length);
    }

    public static void Free(nint mapping, nuint length) => munmap(mapping, length);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int mprotect(nint addr, nuint length, int prot);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int munmap(nint addr, nuint length);
}
