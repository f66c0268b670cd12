"""Runnable programs to copy from; each module's docstring says how to run it."""
