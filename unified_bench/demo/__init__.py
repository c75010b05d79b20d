"""Builders for the offline demo: tiny random-weight models of the real architectures,
tiny encoders, and the frozen demo photographs. Everything is saved with ``save_pretrained``
(or the library's own format) and loaded back through the same code path as ``hf:`` specs."""
