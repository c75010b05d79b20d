"""GenEval-style compositional generation: official prompt metadata, the official folder layout, the
judge as pure functions, and batched detector + colour scoring (the task class lives in ``task.py``).

Nothing heavy is imported here: ``judge``, ``prompts``, ``layout`` and ``aggregate`` need only numpy.
"""
