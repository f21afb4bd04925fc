"""Raw pages -> one schema (polars): one module per platform, rates defined once."""
