"""The ``unified-bench`` command line: one module per subcommand, ``main.py`` dispatches."""
