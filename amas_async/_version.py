"""The package version, in one place (read by hatchling and the User-Agent)."""

__version__ = "0.1.0"
"""The installed version of amas_async, such as ``"0.1.0"`` (the ``User-Agent`` carries it)."""
