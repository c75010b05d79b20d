"""The submission leaderboard (``unified-leaderboard serve``).

Submissions are validated with ``unified_bench.results.schema`` and every aggregate is recomputed
with the task's own pure ``aggregate`` before a row is stored; pages rank models with rank bands
that respect the bootstrap intervals. Nothing here imports torch (see ``tests/leaderboard``).
"""
