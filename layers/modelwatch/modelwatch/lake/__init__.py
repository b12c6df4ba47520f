"""The Parquet lake: layout, object stores, writer, reader, compaction, processed-object state."""
