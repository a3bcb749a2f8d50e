"""Developer tools of the aihubd repository (``python -m tools.bench``, code generation, the demo)."""
