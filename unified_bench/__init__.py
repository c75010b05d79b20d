"""Unified-Bench: measure how unified a unified multimodal model is.

The package is organised by stage (see CONTRIBUTING.md): image sets (``data``) feed tasks
(``tasks``), which emit batched requests to model adapters (``models``); the runner
(``runner``) caches outputs in a run directory; metrics (``metrics``) score them; results
(``results``) are written in a versioned schema and rendered by ``report``.
Importing this package is cheap: heavy libraries are imported where they are used.
"""

__version__ = "0.1.0"
