"""Build tooling of the documentation site (not part of the package)."""
