"""Caption quality control: pure checks with reasons, plus an optional image-text alignment score."""
