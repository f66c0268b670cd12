"""Every code block of README.md and docs/*.md runs here, as a reader would run it.

Why our own runner and not sybil or pytest-examples: the snippets are asyncio code with
top-level ``await`` (``session = await client.sessions.create(...)``), the blocks of one page
build on each other (one namespace, one event loop across blocks), and the shell blocks are
synopses of the ``amas`` command whose commands and options must exist. Neither library does the
first two without a custom evaluator, and this runner is short.

What a page runs against, as the README says in its text: the repository root as the working
directory and ``AMAS_BASE_URL`` / ``AMAS_API_KEY`` pointing at a local emulator
(``amas emulator``), fresh for each page. Per block:

- ```` ```python ````: compiled with top-level ``await`` allowed and run in the page's namespace;
  a block with ``await`` runs on the page's event loop (one loop for the page), others plainly,
  so ``asyncio.run(main())`` works as written.
- ```` ```python ```` after ``<!-- doc-test: pytest -->``: a test file, run by pytest in a
  subprocess in pytest-asyncio's strict mode (what a new project gets), or with the setting the
  marker names (``<!-- doc-test: pytest asyncio_mode = auto -->``).
- ```` ```bash ```` / ```` ```console ````: every ``amas ...`` command line (alternatives
  separated by ``|``, optional parts in ``[...]``) must name an existing command and only its
  options.
- ```` ```bash ```` after ``<!-- doc-test: run -->``: also run, line by line, against the page's
  emulator, in a scratch directory that sees the repository's ``examples/``; each must exit 0.
- ``<!-- doc-test: excerpt examples/x.py -->`` before a block: the block is part of that file,
  word for word (the file is a program run by its own tests, such as ``examples/ray_pipeline.py``
  on a Ray cluster in ``tests/test_ray_cluster.py``).
- ``<!-- doc-test: skip (reason) -->`` before a block: not run (the reason is required).
"""

from __future__ import annotations

import ast
import asyncio
import gc
import inspect
import re
import shlex
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest

from amas_async.cli import main as amas_main
from amas_async.testing import Emulator

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
FENCE = re.compile(r"^```([\w-]*)\s*$")
MARKER = re.compile(r"^<!--\s*doc-test:\s*(\w+)\s*(.*?)\s*-->\s*$")
KNOWN_LANGUAGES = {"python", "bash", "console", "text", "json", "yaml", "toml", "ini", ""}


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    source: str
    marker: str | None  # "skip", "pytest", "run", "excerpt" or None
    options: str = ""  # after "pytest": an ini line ("asyncio_mode = auto"); "excerpt": a path

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks_of(page: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, with the doc-test marker just above each."""
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    index = 0
    marker: str | None = None
    options = ""
    while index < len(lines):
        line = lines[index]
        marked = MARKER.match(line)
        if marked:
            marker = marked.group(1)
            if marker not in {"skip", "pytest", "run", "excerpt"}:
                raise AssertionError(f"{page.name}:{index + 1}: unknown doc-test marker {marker}")
            if marker == "skip" and not marked.group(2):
                raise AssertionError(f"{page.name}:{index + 1}: a skip needs its reason")
            options = marked.group(2) if marker in {"pytest", "excerpt"} else ""
            index += 1
            continue
        opened = FENCE.match(line)
        if opened is None:
            if line.strip():
                marker = None  # a marker applies to the block right below it only
            index += 1
            continue
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].rstrip() != "```":
            body.append(lines[index])
            index += 1
        if index == len(lines):
            raise AssertionError(f"{page.name}:{start + 1}: code block never closed")
        source = "\n".join(body) + "\n"
        found.append(Block(page, start + 1, opened.group(1), source, marker, options))
        marker, options = None, ""
        index += 1
    return found


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


# ---- python blocks ---------------------------------------------------------------------------


class PageRun:
    """A page's namespace and event loop: blocks run in order, as a reader pastes them."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"__name__": "__doc_page__"}
        self.loop = asyncio.new_event_loop()  # asyncio.Runner is 3.11+; we support 3.10

    def run(self, block: Block) -> None:
        code = compile(
            block.source,
            f"{block.where}",
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            dont_inherit=True,
        )
        if code.co_flags & inspect.CO_COROUTINE:
            self.loop.run_until_complete(eval(code, self.namespace))
        else:
            exec(code, self.namespace)

    def close(self) -> None:
        # What a page left open is closed as the reader's interpreter would at exit.
        for value in list(self.namespace.values()):
            aclose = getattr(value, "aclose", None)
            if aclose is not None and type(value).__module__.startswith("amas_async"):
                self.loop.run_until_complete(aclose())  # closing twice is harmless
            close = getattr(value, "close", None)
            if aclose is None and close is not None and type(value).__name__ == "Amas":
                close()
        self.namespace.clear()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()
        gc.collect()


PYTHON_PAGES = [
    page
    for page in PAGES
    if any(b.language == "python" and b.marker is None for b in blocks_of(page))
]


@pytest.fixture
def doc_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A fresh emulator for the page, named by AMAS_BASE_URL / AMAS_API_KEY; cwd the root."""
    with Emulator(processing_seconds=0).run_in_thread() as emulator:
        monkeypatch.setenv("AMAS_BASE_URL", emulator.base_url)
        monkeypatch.setenv("AMAS_API_KEY", emulator.api_key)
        monkeypatch.chdir(ROOT)
        yield emulator


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=_page_id)
def test_python_blocks_run_as_written(page: Path, doc_env: Emulator) -> None:
    run = PageRun()
    try:
        for block in blocks_of(page):
            if block.language != "python" or block.marker is not None:
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    run.run(block)
            except BaseException as exc:
                source = textwrap.indent(block.source, "    ")
                raise AssertionError(
                    f"the block at {block.where} failed: {type(exc).__name__}: {exc}\n{source}"
                ) from exc
    finally:
        run.close()


# ---- test-file blocks ------------------------------------------------------------------------

PYTEST_BLOCKS = [block for page in PAGES for block in blocks_of(page) if block.marker == "pytest"]


@pytest.mark.parametrize("block", PYTEST_BLOCKS, ids=lambda b: b.where)
def test_test_file_blocks_pass_in_strict_mode(block: Block, tmp_path: Path) -> None:
    (tmp_path / "test_from_docs.py").write_text(block.source, encoding="utf-8")
    # A new project's settings: pytest-asyncio in its default strict mode, nothing else, unless
    # the marker names another setting (`<!-- doc-test: pytest asyncio_mode = auto -->`).
    # Warnings are errors, as in our own suite, except pytest-asyncio's nudge to pick a loop scope.
    settings = block.options if "asyncio_mode" in block.options else "asyncio_mode = strict"
    (tmp_path / "pytest.ini").write_text(
        f"[pytest]\n{settings}\nfilterwarnings =\n    error\n"
        "    ignore:The configuration option:pytest.PytestDeprecationWarning\n",
        encoding="utf-8",
    )
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert completed.returncode == 0, f"{block.where}:\n{completed.stdout}\n{completed.stderr}"
    assert " passed" in completed.stdout


# ---- shell blocks ----------------------------------------------------------------------------

SHELL_BLOCKS = [
    block
    for page in PAGES
    for block in blocks_of(page)
    if block.language in {"bash", "console"} and block.marker in {None, "run"}
]


def _amas_commands(source: str) -> Iterator[list[str]]:
    """Every ``amas`` invocation in a shell block, alternatives after ``|`` expanded."""
    for raw in source.splitlines():
        line = raw.split("  #", 1)[0].strip()
        if line.startswith("$ "):
            line = line[2:]
        if not line.startswith("amas ") and line != "amas":
            continue
        line = re.sub(r"\[([^\]]*)\]", r"\1", line)  # optional parts count as given
        previous: list[str] = []
        for part in line.split(" | "):
            words = shlex.split(part.strip())
            if words and words[0] == "amas":
                previous = words
                yield words
            elif previous:
                # "amas agents list | get ID": the alternative continues the same group
                group = _group_prefix(previous)
                yield [*group, *words]


def _group_prefix(words: list[str]) -> list[str]:
    command: click.Command = amas_main
    prefix = ["amas"]
    for word in words[1:]:
        if isinstance(command, click.Group) and word in command.commands:
            prefix.append(word)
            command = command.commands[word]
        else:
            break
    return prefix[:-1] if not isinstance(command, click.Group) else prefix


def check_command(words: list[str]) -> None:
    """The command path exists and every ``--option`` shown is one of its options."""
    command: click.Command = amas_main
    path = ["amas"]
    rest = words[1:]
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        name = rest[0]
        assert name in command.commands, f"`{' '.join(path)}` has no command {name!r}"
        command = command.commands[name]
        path.append(name)
        rest = rest[1:]
    options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)} | {
        "--help",
        "-h",
        "--version",
    }
    for word in rest:
        if word.startswith("-") and word != "-":
            name = word.split("=", 1)[0]
            assert name in options, f"`{' '.join(path)}` has no option {name}"


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=lambda b: b.where)
def test_shell_blocks_name_real_commands_and_options(block: Block) -> None:
    for words in _amas_commands(block.source):
        try:
            check_command(words)
        except AssertionError as exc:
            raise AssertionError(f"{block.where}: {' '.join(words)}: {exc}") from None


RUN_BLOCKS = [block for page in PAGES for block in blocks_of(page) if block.marker == "run"]


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=lambda b: b.where)
def test_run_blocks_succeed(block: Block, doc_env: Emulator, tmp_path: Path) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    for line in block.source.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        assert words[0] == "amas", f"{block.where}: only amas commands run here: {line}"
        completed = subprocess.run(
            [sys.executable, "-m", "amas_async.cli", *words[1:]],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=100,
            check=False,
        )
        assert completed.returncode == 0, f"{block.where}: {line}\n{completed.stderr}"


# ---- excerpts of programs that run elsewhere ---------------------------------------------------

EXCERPT_BLOCKS = [block for page in PAGES for block in blocks_of(page) if block.marker == "excerpt"]


@pytest.mark.parametrize("block", EXCERPT_BLOCKS, ids=lambda b: b.where)
def test_excerpts_are_word_for_word_in_their_file(block: Block) -> None:
    assert block.options, f"{block.where}: an excerpt names its file"
    program = (ROOT / block.options).read_text(encoding="utf-8").splitlines()
    excerpt = textwrap.dedent(block.source).strip("\n").splitlines()
    windows = (
        textwrap.dedent("\n".join(program[i : i + len(excerpt)])).splitlines()
        for i in range(len(program) - len(excerpt) + 1)
    )
    assert excerpt in windows, f"{block.where}: not found word for word in {block.options}"


# ---- the pages themselves --------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_block_is_known_to_the_runner(page: Path) -> None:
    """A block in another language would silently go untested: name every language we know."""
    for block in blocks_of(page):
        assert block.language in KNOWN_LANGUAGES, f"{block.where}: ```{block.language}"
        if block.language == "":
            raise AssertionError(f"{block.where}: a block needs a language")


def test_the_runner_sees_what_it_should() -> None:
    readme = blocks_of(ROOT / "README.md")
    assert sum(b.language == "python" for b in readme) >= 2
    guides = [block for page in PAGES for block in blocks_of(page)]
    assert sum(b.language == "python" and b.marker is None for b in guides) >= 140
    assert sum(b.marker == "pytest" for b in guides) >= 5
    assert (ROOT / "docs" / "reference" / "index.md") in PAGES  # subfolders are pages too
    assert any(list(_amas_commands(b.source)) for b in SHELL_BLOCKS)
    assert any(b.options == "examples/ray_pipeline.py" for b in EXCERPT_BLOCKS)


def test_the_shell_check_catches_a_wrong_option() -> None:
    with pytest.raises(AssertionError, match="no option --nope"):
        check_command(["amas", "batch", "in.jsonl", "--nope"])
    with pytest.raises(AssertionError, match="no command 'nope'"):
        check_command(["amas", "agents", "nope"])
    assert list(_amas_commands("amas agents list | get ID | delete ID  # three\n")) == [
        ["amas", "agents", "list"],
        ["amas", "agents", "get", "ID"],
        ["amas", "agents", "delete", "ID"],
    ]
