"""What both packages (``unified_bench`` and ``data_pipeline``) share: errors, atomic writes, hashing,
hub revision pinning and the one dtype table.

Why a package of its own: the data pipeline and the leaderboard must not import evaluation feature
modules (image sets, model loading) to get a hash or an atomic write. Modules here import nothing
from the rest of ``unified_bench`` and nothing heavy at import time.
"""
