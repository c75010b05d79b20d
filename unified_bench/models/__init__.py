"""Model adapters: one interface (``base.ModelAdapter``), one file per backend."""
