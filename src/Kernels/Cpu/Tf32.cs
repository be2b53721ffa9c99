namespace RawFlipFlop.Kernels.Cpu;

/// <summary>
/// TF32, the tensor cores' 19-bit float: FP32's sign and 8-bit exponent with 10 mantissa bits (the low 13 bits of
/// an FP32 pattern are zero). One unit in the last place is 2^-10 relative, so rounding errs by at most 2^-11.
/// </summary>
public static class Tf32
{
    /// <summary>Mantissa bits an FP32 pattern loses in TF32.</summary>
    public const int DroppedBits = 13;

    /// <summary>
    /// x rounded to TF32 exactly as PTX's cvt.rna.tf32.f32 runs on sm_80 and sm_90 (the SASS ptxas 11.8 emits for it:
    /// FSETP.GEU |x|, +INF; @!P0 IADD x, 0x1000; LOP3 x &amp; 0xffffe000): to nearest, ties away from zero. A finite x
    /// gets half a TF32 ulp added to its bits (a carry may raise the exponent, up to infinity), then the 13 low bits are
    /// cleared; an infinity or a NaN only has them cleared (a NaN whose payload lies in those bits becomes an infinity).
    /// </summary>
    public static float Round(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);
        bool finite = (bits & 0x7f800000u) != 0x7f800000u;
        return BitConverter.UInt32BitsToSingle((finite ? bits + (1u << (DroppedBits - 1)) : bits) & ~((1u << DroppedBits) - 1));
    }
}
