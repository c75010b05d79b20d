"""MMT-Bench-style multiple-choice understanding (VLMEvalKit schema and scoring).

Modules: ``tsv`` (streamed loader), ``prompt`` (reference prompt, option rotation), ``extract``
(the reference's deterministic answer-extraction chain), ``scoring`` (pure aggregation, CSV
tables, submission file), ``demo_data`` (the frozen fixture TSVs). Nothing is imported here, so
``import unified_bench.tasks.mmt.scoring`` stays light (the leaderboard uses it without torch).
"""
