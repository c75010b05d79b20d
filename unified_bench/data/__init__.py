"""Reference image sets: folders, WebDataset shards, HF datasets, named verified manifests."""
