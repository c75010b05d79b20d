"""The per-shard Dask tasks: ``ingest`` (fetch/decode/filter/hash, staged), the job-wide dedup
pass, and ``finalize`` (dedup decisions, caption, QC, write). Each returns small stats only."""
