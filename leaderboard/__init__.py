"""The submission leaderboard (``unified-leaderboard serve``): not built yet.

It will validate submissions with ``unified_bench.results.schema`` and rank them using each
metric's declared ``higher_is_better`` and bounds.
"""
