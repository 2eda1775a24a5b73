"""The ``aduan`` command line: ``app`` (the root command and shared helpers), one module per command
group, and ``main`` (the entry point). An entry point: it may import every other folder."""
