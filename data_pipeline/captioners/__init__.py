"""Captioner backends: ``base.py`` interface, one file per backend (transformers, OpenAI-compatible)."""
