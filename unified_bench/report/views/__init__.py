"""Per-task sample views: which images and text a report row shows for one sample.

Why a registry: the report is shared by every task; a task names its view in results.json
(``benchmark.view``) and the report looks it up here, falling back to the generic view, so a new
task never forks the report.
"""

from __future__ import annotations

from unified_bench.registry import Registry

REPORT_VIEWS: Registry = Registry("report view")
REPORT_VIEWS.register("generic", "unified_bench.report.views.generic:GenericView")
REPORT_VIEWS.register("unified", "unified_bench.report.views.unified:UnifiedView")
REPORT_VIEWS.register("geneval", "unified_bench.report.views.geneval:GenevalView")
REPORT_VIEWS.register("mmt", "unified_bench.report.views.mmt:MultipleChoiceView")


def view_for(name: str):
    """The view class registered as ``name``, or the generic one for names this version lacks."""
    return REPORT_VIEWS.get(name if name in REPORT_VIEWS else "generic")
