"""Pure metric functions (no model loading, no I/O)."""
