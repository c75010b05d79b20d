"""Public import path of the user-facing error family (``unified_bench.errors.SpecError`` ...).

Why a second name: plugin adapters and the data pipeline raise these, and ``unified_bench.errors``
is the documented path; the one implementation lives in ``unified_bench.core.errors``.
"""

from unified_bench.core.errors import (  # noqa: F401
    CapabilityError,
    EncoderError,
    ImageSetError,
    MissingDependencyError,
    RunDirError,
    SchemaError,
    SpecError,
    UnifiedBenchError,
    report,
    require,
)
