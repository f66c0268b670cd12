"""The ``amas`` command: sessions, executions, chat, the emulator and a guided demo.

Every command talks to ``AMAS_BASE_URL`` with ``AMAS_API_KEY``, or, with ``--emulator``, to an
emulator embedded in the command for its lifetime. Errors print one line on stderr and exit
with status 1 (2 for usage errors); no tracebacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from ._client import AsyncAmas
from .errors import AmasError, APIStatusError
from .models import Execution
from .resources import Session

T = TypeVar("T")
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

_EMULATOR_HELP = "Run against an emulator embedded in this command instead of AMAS_BASE_URL."


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise SystemExit(1)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; typed SDK errors become one line on stderr."""
    try:
        return asyncio.run(coro)
    except AmasError as exc:
        _fail(str(exc))
        raise AssertionError("unreachable") from exc
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None


@contextlib.asynccontextmanager
async def _client(use_emulator: bool) -> AsyncIterator[AsyncAmas]:
    """A client for the configured server, or for an embedded emulator."""
    if not use_emulator:
        async with AsyncAmas() as client:
            yield client
        return
    from .testing import Emulator

    async with Emulator() as emu, AsyncAmas(base_url=emu.base_url, api_key=emu.api_key) as client:
        yield client


def _parse_inputs(pairs: tuple[str, ...]) -> dict[str, Any] | None:
    """``key=value`` pairs; values are read as JSON when they are JSON, else kept as text."""
    if not pairs:
        return None
    inputs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="--input")
        try:
            inputs[key] = json.loads(value)
        except ValueError:
            inputs[key] = value
    return inputs


def _print_execution(result: Execution, *, as_json: bool = False) -> None:
    if as_json:
        out.print_json(json.dumps(dict(result.raw)))
        return
    for message in result.messages:
        if message.role in (None, "assistant"):
            out.print(f"[bold cyan]assistant>[/] {escape(message.text)}")
    if result.usage is not None:
        usage = result.usage
        out.print(f"[dim]tokens: {usage.input_tokens} in, {usage.output_tokens} out[/]")


def _print_session(session: Session) -> None:
    out.print(f"session_id: {session.id}")
    if session.config_hash:
        out.print(f"config_hash: {session.config_hash}")
    for name in ("agent_id", "agent_name", "agent_key", "state"):
        value = getattr(session, name)
        if value:
            out.print(f"{name}: {value}")


def emulator_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--emulator`` flag every command takes."""
    return click.option("--emulator", "use_emulator", is_flag=True, help=_EMULATOR_HELP)(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="amas-async", prog_name="amas")
def main() -> None:
    """Work with the Atthene AMAS REST API (AMAS_BASE_URL, AMAS_API_KEY)."""


# ---- amas emulator ------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8765, show_default=True, help="Port (0: any free port).")
@click.option("--api-key", default="amas-test-key", show_default=True, help="Key to accept.")
@click.option("--fault-rate", default=0.0, show_default=True, help="Share of calls to fail (0-1).")
@click.option("--seed", type=int, default=None, help="Seed of the random faults.")
@click.option("--latency", default=0.0, show_default=True, help="Seconds added to every answer.")
@click.option("--rate-limit", type=float, default=None, help="Requests per second allowed.")
@click.option("--rate-burst", default=10, show_default=True, help="Burst of the rate limit.")
@click.option(
    "--session-concurrency", default=1, show_default=True, help="Executes at once per session."
)
@click.option("--turn-delay", default=0.0, show_default=True, help="Seconds every execute takes.")
def emulator(
    host: str,
    port: int,
    api_key: str,
    fault_rate: float,
    seed: int | None,
    latency: float,
    rate_limit: float | None,
    rate_burst: int,
    session_concurrency: int,
    turn_delay: float,
) -> None:
    """Serve the local AMAS emulator until Ctrl-C (also: python -m amas_async.testing)."""
    from .testing import Emulator

    try:
        emu = Emulator(
            api_key=api_key,
            host=host,
            port=port,
            fault_rate=fault_rate,
            seed=seed,
            latency=latency,
            rate_limit=rate_limit,
            rate_burst=rate_burst,
            session_concurrency=session_concurrency,
            turn_delay=turn_delay,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc

    async def serve() -> None:
        try:
            await emu.start()
        except OSError as exc:
            raise AmasError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        try:
            out.print(f"AMAS emulator listening on {emu.base_url}")
            out.print(f"API key: {emu.api_key}")
            out.print(f"export AMAS_BASE_URL={emu.base_url} AMAS_API_KEY={emu.api_key}")
            out.print("Press Ctrl-C to stop.")
            await asyncio.Event().wait()
        finally:
            await emu.stop()

    try:
        _run(serve())
    except SystemExit as exc:
        if exc.code == 130:  # Ctrl-C is how this command ends
            raise SystemExit(0) from None
        raise


# ---- amas session ... ---------------------------------------------------------------------


@main.group()
def session() -> None:
    """Create and inspect sessions."""


@session.command("create")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@emulator_option
def session_create(config: Path, use_emulator: bool) -> None:
    """Create a session from a YAML or JSON config file."""

    async def go() -> None:
        async with _client(use_emulator) as client:
            _print_session(await client.sessions.create(config))

    _run(go())


@session.command("get")
@click.argument("session_id")
@emulator_option
def session_get(session_id: str, use_emulator: bool) -> None:
    """Show a session's details."""

    async def go() -> None:
        async with _client(use_emulator) as client:
            _print_session(await client.sessions.get(session_id))

    _run(go())


@session.command("messages")
@click.argument("session_id")
@click.option("--limit", default=50, show_default=True)
@click.option("--offset", default=0, show_default=True)
@emulator_option
def session_messages(session_id: str, limit: int, offset: int, use_emulator: bool) -> None:
    """Show a page of a session's history."""

    async def go() -> None:
        async with _client(use_emulator) as client:
            page = await client.runtime.messages(session_id, limit=limit, offset=offset)
            for message in page.messages:
                out.print(f"[bold]{message.role}>[/] {escape(message.text)}")
            out.print(f"[dim]{len(page.messages)} of {page.total} messages[/]")

    _run(go())


# ---- amas execute / chat ------------------------------------------------------------------


@main.command()
@click.argument("session_id")
@click.argument("text")
@click.option("--input", "-i", "pairs", multiple=True, help="A variable, key=value (repeatable).")
@click.option(
    "--image",
    "images",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="An image file to upload and send with the text (repeatable).",
)
@click.option("--correlation-id", default=None, help="Tracking id echoed in the result.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON answer.")
@emulator_option
def execute(
    session_id: str,
    text: str,
    pairs: tuple[str, ...],
    images: tuple[Path, ...],
    correlation_id: str | None,
    as_json: bool,
    use_emulator: bool,
) -> None:
    """Send TEXT (and images) to a session and print the reply."""
    inputs = _parse_inputs(pairs)

    async def go() -> None:
        async with _client(use_emulator) as client:
            content: Any = text
            if images:
                uploads = [await client.images.upload(path) for path in images]
                content = [text, *uploads]
            result = await client.runtime.execute(
                session_id, content, inputs=inputs, correlation_id=correlation_id
            )
            _print_execution(result, as_json=as_json)

    _run(go())


def _chat_loop(
    run: Callable[[Awaitable[Execution]], Execution],
    session: Session,
    inputs: dict[str, Any] | None,
) -> None:
    out.print(f"[dim]session {session.id}; Ctrl-D or Ctrl-C to leave[/]")
    while True:
        try:
            line = input("you> ")
        except (EOFError, KeyboardInterrupt):
            out.print()
            return
        if not line.strip():
            continue
        try:
            # --input values go with every message: request-level variables need that.
            result = run(session.execute(line, inputs=inputs))
        except APIStatusError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}")
            continue
        _print_execution(result)


@main.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--session", "session_id", default=None, help="Continue an existing session.")
@click.option("--input", "-i", "pairs", multiple=True, help="A variable, key=value (repeatable).")
@emulator_option
def chat(
    config: Path | None, session_id: str | None, pairs: tuple[str, ...], use_emulator: bool
) -> None:
    """Talk with an agent: from a CONFIG file, or an existing --session."""
    if (config is None) == (session_id is None):
        raise click.UsageError("give a CONFIG file or --session ID (one of them)")
    inputs = _parse_inputs(pairs)
    loop = asyncio.new_event_loop()
    stack = contextlib.AsyncExitStack()
    try:

        def run(awaitable: Awaitable[T]) -> T:
            async def wrapped() -> T:
                return await awaitable

            return loop.run_until_complete(wrapped())

        client = run(stack.enter_async_context(_client(use_emulator)))
        if config is not None:
            session_handle = run(client.sessions.create(config))
        else:
            assert session_id is not None
            session_handle = client.session(session_id)
        _chat_loop(run, session_handle, inputs)
    except AmasError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        out.print()
    finally:
        with contextlib.suppress(BaseException):
            loop.run_until_complete(stack.aclose())
        loop.close()


# ---- amas batch ---------------------------------------------------------------------------


@main.command()
@click.argument(
    "input_path", metavar="INPUT.jsonl", type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "-o",
    "--output",
    "output_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where results go (JSONL); re-running with it resumes.",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config of the sessions to create (one per 'session' key, or per line).",
)
@click.option("--session", "session_id", default=None, help="Run every line in this session.")
@click.option("--concurrency", default=16, show_default=True, help="Sessions run at once.")
@click.option("--rps", type=float, default=None, help="Requests per second at most.")
@click.option("--no-progress", is_flag=True, help="No live progress bar.")
@emulator_option
def batch(
    input_path: Path,
    output_path: Path,
    config: Path | None,
    session_id: str | None,
    concurrency: int,
    rps: float | None,
    no_progress: bool,
    use_emulator: bool,
) -> None:
    """Run every line of INPUT.jsonl; write one result line per id to --output.

    Each input line is {"id", "content", "inputs"?, "session"?}. Lines with the same
    "session" key share one session made from --config; lines without one get a fresh
    session each (or all use --session). Re-running with the same --output skips the ids
    already done and retries the failed ones. Exit status 1 if any line failed.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from ._batchfile import Malformed, OutputFile, Summary, count_lines, run_file_batch
    from ._serde import config_body

    if (config is None) == (session_id is None):
        raise click.UsageError("give --config CONFIG.yaml or --session ID (one of them)")
    if concurrency < 1:
        raise click.BadParameter("must be at least 1", param_hint="--concurrency")
    if not input_path.is_file():
        _fail(f"input file not found: {str(input_path)!r}")
    try:
        if config is not None:
            config_body(config)  # a bad config fails here, before any line runs
        output = OutputFile(output_path)
        output.load()
        todo = max(0, count_lines(input_path) - len(output.done))
    except (AmasError, OSError) as exc:
        _fail(str(exc))
        return
    progress = Progress(
        TextColumn("[bold]batch"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TextColumn("{task.fields[rate]:.1f}/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        disable=no_progress,
    )
    task = progress.add_task("batch", total=todo, failed=0, rate=0.0)
    summary = Summary()
    started = time.monotonic()

    def on_line(data: dict[str, Any]) -> None:
        done = summary.ok + summary.failed
        rate = done / max(time.monotonic() - started, 1e-9)
        progress.update(task, advance=1, failed=summary.failed, rate=rate)

    def on_malformed(line: Malformed) -> None:
        progress.console.print(f"[yellow]line {line.number}:[/] {escape(line.reason)}")
        progress.update(task, advance=1)

    async def go() -> None:
        async with _client(use_emulator) as client:
            await run_file_batch(
                client,
                input_path,
                output,
                config=config,
                session_id=session_id,
                concurrency=concurrency,
                rate_limit=rps,
                on_line=on_line,
                on_malformed=on_malformed,
                summary=summary,
            )

    output.open()
    interrupted = False
    try:
        with progress:
            _run(go())
    except SystemExit as exc:
        interrupted = exc.code == 130
        if not interrupted:
            raise
    finally:
        output.close()
    elapsed = time.monotonic() - started
    done = summary.ok + summary.failed
    err.print(
        f"{summary.ok} ok, {summary.failed} failed, {summary.malformed} malformed lines, "
        f"{summary.skipped} already done; {done} in {elapsed:.1f}s "
        f"({done / max(elapsed, 1e-9):.1f}/s) -> {output_path}"
    )
    if interrupted:
        err.print("interrupted: re-run the same command to resume")
        raise SystemExit(130)
    if summary.failed or summary.malformed:
        raise SystemExit(1)


# ---- amas demo ----------------------------------------------------------------------------


def _example_config() -> Path:
    """The tutorial's example config: shipped in the wheel, or the repository's examples/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_examples", here.parent / "examples"):
        path = candidate / "support_agent.yaml"
        if path.is_file():
            return path
    raise AmasError("the example config support_agent.yaml is missing from this installation")


@main.command()
def demo() -> None:
    """Walk the REST tutorial on an embedded emulator, printing every step."""
    from .demo import run_demo

    _run(run_demo(out, _example_config()))


def _entry() -> None:  # pragma: no cover - the console script
    main(prog_name="amas")


__all__ = ["main"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
