namespace RawFlipFlop.Engine.Data.ParquetFormat;

/// <summary>A Parquet file that breaks the format or one of our bounds; the reader turns it into a problem report.</summary>
public class ParquetFormatException(string message) : Exception(message);

/// <summary>Thrift data that ends before the value being read does: a truncated file, or a window read too short.</summary>
public sealed class ThriftEndOfDataException(string message) : ParquetFormatException(message);
