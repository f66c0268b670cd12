"""Developer sessions: `nox -s tests`, `nox -s lint`, `nox -s typecheck` (and `nox` for all).

Also `nox -s coverage` (the suite with line and branch coverage), `nox -s package` (build and
check the sdist and wheel, then run `amas demo` from the wheel in a fresh venv) and `nox -s bench`.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite: the same command as the README and CI."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(name="tests-minimal")
def tests_minimal(session: nox.Session) -> None:
    """The test suite with the standard library's json instead of orjson (as on PyPy)."""
    session.install("-e", ".[test]")
    session.run("pip", "uninstall", "--yes", "orjson")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def coverage(session: nox.Session) -> None:
    """The test suite with line and branch coverage of the package, subprocesses included.

    The figure is true because the package's pytest plugin imports nothing of the package before
    coverage starts. Add `-- --cov-report=html` for a browsable report in htmlcov/.
    """
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "--cov", *session.posargs)


@nox.session
def package(session: nox.Session) -> None:
    """Build the sdist and the wheel, check them, install the wheel alone and run `amas demo`."""
    session.install("build", "twine")
    session.run("bash", ".ci/package", external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and formatting) and import-linter (the layering, cycles included)."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package and the tests."""
    session.install("-e", ".[test,lint]")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark suite (not in the default run); prints the goals summary and its run time.

    `nox -s bench` is the full run (about 7 minutes on 2 cores); `nox -s bench -- --quick`
    measures only what the goals need (about 70 s; more while others use the CPUs).
    """
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/, strictly (a broken link or reference fails it)."""
    session.install("-e", ".[docs]")
    session.run("python", "-m", "tools.cli_reference", success_codes=[0, 1])
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(name="docs-serve")
def docs_serve(session: nox.Session) -> None:
    """Serve the documentation site on http://127.0.0.1:8000 with live reload."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "serve", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})
