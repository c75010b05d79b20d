"""Outputs: per-shard tar + parquet + stats (``shard.py``), row schema (``rows.py``), manifest."""
