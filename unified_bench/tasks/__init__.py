"""Benchmarks (tasks). Each builds requests from its data and judges the outputs; the registry
maps ``--task`` names to implementations without importing them."""

from unified_bench.registry import Registry

TASKS: Registry = Registry("task")
TASKS.register("unified", "unified_bench.tasks.unified:UnifiedTask")
TASKS.register("geneval", "unified_bench.tasks.geneval.task:GenevalTask")
TASKS.register("mmt", "unified_bench.tasks.mmt.task:MMTTask")
