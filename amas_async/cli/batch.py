"""``amas batch``: run a JSONL file of requests with a live progress bar; resumable.

The files (input parsing, the output appender, resume, the runner) are in :mod:`.batchfile`;
this is the command: its options, the progress bar, the summary and the exit status.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from ..errors import AmasError
from ..models import SessionConfig
from ._support import emulator_option, err, fail, require_api_key, run_with_client
from .batchfile import Malformed, OutputFile, Shard, Summary, count_lines, run_file_batch

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = ["batch"]


def _shard(ctx: click.Context, param: click.Parameter, value: str | None) -> Shard | None:
    """``--shard I/N`` as a :class:`~.batchfile.Shard` (0-based); otherwise a usage error."""
    if value is None:
        return None
    try:
        return Shard.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _progress(*, disable: bool, label: str = "batch") -> Progress:
    """The live bar on stderr: lines handled of total, split into ok, failed and malformed.

    ``label`` leads (``batch``, or ``batch 3/8`` for a shard). A malformed line moves the
    bar (it is handled: reported and skipped) but counts as malformed, never as ok; then the
    rate, the elapsed time and the ETA.
    """
    from rich.progress import (  # here: only this command draws one
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn(f"[bold]{escape(label)}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[green]{task.fields[ok]} ok"),
        TextColumn("[red]{task.fields[failed]} failed"),
        TextColumn("[yellow]{task.fields[malformed]} malformed"),
        TextColumn("{task.fields[rate]:.1f}/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        disable=disable,
    )


@click.command(short_help="Run a JSONL file of requests (resumable), writing results.")
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
@click.option(
    "--shard",
    metavar="I/N",
    default=None,
    callback=_shard,
    help="Run only shard I of N (0-based, 0 <= I < N) of the lines, split by session key or "
    "id; results go to OUTPUT.shard-I-of-N.jsonl (resumed from there).",
)
@emulator_option
def batch(
    input_path: Path,
    output_path: Path,
    config: Path | None,
    session_id: str | None,
    concurrency: int,
    rps: float | None,
    no_progress: bool,
    shard: Shard | None,
    use_emulator: bool,
) -> None:
    """Run every line of INPUT.jsonl; write one result line per id to --output.

    Each input line is {"id", "content", "inputs"?, "session"?}. Lines with the same
    "session" key share one session made from --config; lines without one get a session
    each (or all use --session). Re-running with the same --output skips the ids already
    done and retries the failed ones. Exit status 1 if any line failed.

    Sessions are created, and lines sent, with Idempotency-Keys derived from the batch (the
    output file it writes, by resolved path, and the config's content) and each line's
    session key, or id, content and inputs. A re-run sends the same keys, so a server that
    honours them returns the first run's sessions and answers: a line that was in flight
    when the run was interrupted is not run again. Deleting the output does not make a new
    batch (within the server's key lifetime): to run afresh, write to a new --output.

    With --shard I/N, N processes (one per I, 0 to N-1) split the lines: each runs the lines
    whose session key (else id) hashes to its I, writes OUTPUT.shard-I-of-N.jsonl and resumes
    from it. Concatenated, the N files hold what one run without --shard would write.
    """
    if (config is None) == (session_id is None):
        raise click.UsageError("give --config CONFIG.yaml or --session ID (one of them)")
    if shard is not None and shard.count > 1 and session_id is not None:
        raise click.UsageError(
            "--shard cannot split lines that all run in one --session (its turns run one at "
            "a time, in order): give --config to split them"
        )
    if concurrency < 1:
        raise click.BadParameter("must be at least 1", param_hint="--concurrency")
    if not input_path.is_file():
        fail(f"input file not found: {str(input_path)!r}")
    require_api_key(use_emulator)  # before the output file is touched
    try:
        if config is not None:
            SessionConfig.from_yaml(config).validate()  # a bad config fails before any line
        if shard is not None:
            output_path = shard.output_path(output_path)
        output = OutputFile(output_path)
        output.load()
        todo = max(0, count_lines(input_path, shard) - len(output.done))
    except (AmasError, OSError) as exc:
        fail(str(exc))
    label = "batch" if shard is None else f"batch {shard}"
    progress = _progress(disable=no_progress, label=label)
    task = progress.add_task("batch", total=todo, ok=0, failed=0, malformed=0, rate=0.0)
    summary = Summary()
    started = time.monotonic()

    def on_line(data: dict[str, Any]) -> None:
        done = summary.ok + summary.failed
        rate = done / max(time.monotonic() - started, 1e-9)
        progress.update(task, advance=1, ok=summary.ok, failed=summary.failed, rate=rate)

    def on_malformed(line: Malformed) -> None:
        progress.console.print(f"[yellow]line {line.number}:[/] {escape(line.reason)}")
        progress.update(task, advance=1, malformed=summary.malformed)

    output.open()
    interrupted = False
    try:
        with progress:
            run_with_client(
                use_emulator,
                lambda client: run_file_batch(
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
                    shard=shard,
                ),
            )
    except SystemExit as exc:
        interrupted = exc.code == 130
        if not interrupted:
            raise
    finally:
        output.close()
    elapsed = time.monotonic() - started
    done = summary.ok + summary.failed
    err.print(
        ("" if shard is None else f"{label}: ")
        + f"{summary.ok} ok, {summary.failed} failed, {summary.malformed} malformed lines, "
        f"{summary.skipped} already done; {done} in {elapsed:.1f}s "
        f"({done / max(elapsed, 1e-9):.1f}/s) -> {escape(str(output_path))}"
    )
    if interrupted:
        err.print("interrupted: re-run the same command to resume")
        raise SystemExit(130)
    if summary.failed or summary.malformed:
        raise SystemExit(1)
