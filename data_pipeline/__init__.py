"""Dask jobs that build long-context caption shards (``unified-data build RECIPE``).

recipe -> shard plan -> one Dask task per shard: fetch -> decode -> filter -> caption -> QC -> write.
One module per stage; stages hand each other small picklable values.
"""
