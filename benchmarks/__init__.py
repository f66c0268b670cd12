"""The benchmark suite of amas_async: ``python -m benchmarks`` (or ``nox -s bench``).

See benchmarks/README.md for what is measured and docs/benchmarks.md for the results.
"""
