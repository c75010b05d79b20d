"""The HTML report: a single self-contained page rendered from a run directory's results.json.

Why a stage of its own: presentation reads the versioned results file (validated with
``unified_bench.results.schema.load_results``) and the images the runner saved, never models or
run internals, so a report can be rebuilt anywhere from a finished run directory. Everything the
page shows (thumbnails, histograms, the sort script, styles) is inlined so the file can be mailed,
attached to an issue or opened offline without losing anything.

Modules: ``thumbnails`` (images -> data URIs), ``plots`` (score histograms), ``view`` (results ->
rows and columns the template shows), ``html`` (``write_report``) and ``template.html``.
"""
