"""Metrics: pure functions in ``functional/``, embedding models in ``encoders/``."""
