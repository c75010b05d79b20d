"""The captioner x generator unification matrix (``unified-bench matrix``).

``derived`` holds the pure figures, ``schema`` the validated matrix.json, ``run`` the runs of every
pairing through the one runner (sharing outputs through the runner's output cache), ``report`` the
heat-map and the HTML page.
"""
