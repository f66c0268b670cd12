"""Run many prompts through an agent at once, with a progress bar, and write every answer.

Against the embedded emulator (no key, no network)::

    python examples/batch_script.py examples/prompts.jsonl --emulator

against AMAS (``AMAS_API_KEY``, optionally ``AMAS_BASE_URL``)::

    python examples/batch_script.py examples/prompts.jsonl -o answers.jsonl --concurrency 8 --rps 5

The input is a JSONL file, one ``{"id": ..., "content": "...", "inputs": {...}}`` per line
(``id`` and ``inputs`` optional), or a plain text file with one prompt per line. Each prompt
gets a session of its own, made from ``--config`` (default: ``support_agent.yaml`` beside this
script, whose variables are ``user_name`` and ``tone``: give them per line in ``inputs``, or
for every line with ``--input user_name=Ada --input tone=brief``). Sessions are made as the
batch reads its input, so a long file starts answering at once and runs in bounded memory.

The prompts run through ``client.runtime.iter_execute_many``: ``--concurrency`` at a time, at
most ``--rps`` requests per second, slowing down by itself on 429s; each result is written as
soon as it arrives (``{"id", "ok", "reply", "usage", "attempts", "error"}`` per line, to
``--output`` or standard output). Progress goes to standard error: a progress bar on a
terminal, a plain ``done/total`` line every few results otherwise. The exit status is 1 if any
prompt failed. (``amas batch`` is the full-featured command: shared sessions, resume.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

import amas_async as amas

DEFAULT_CONFIG = Path(__file__).resolve().parent / "support_agent.yaml"


def read_prompts(path: Path, inputs: dict[str, str]) -> list[dict[str, Any]]:
    """The prompts of a JSONL or text file: ``{"id", "content", "inputs"}`` each."""
    prompts: list[dict[str, Any]] = []
    jsonl = path.suffix in {".jsonl", ".ndjson"}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            if not jsonl:
                prompts.append({"id": number, "content": line.strip(), "inputs": dict(inputs)})
                continue
            item = json.loads(line)
            if not isinstance(item, dict) or not isinstance(item.get("content"), str):
                raise SystemExit(f"{path}:{number}: expected an object with a 'content' string")
            prompts.append(
                {
                    "id": item.get("id", number),
                    "content": item["content"],
                    "inputs": {**inputs, **(item.get("inputs") or {})},
                }
            )
    return prompts


async def requests(
    client: amas.AsyncAmas, config: amas.SessionConfig, prompts: Sequence[dict[str, Any]]
) -> AsyncIterator[amas.ExecuteRequest]:
    """One request per prompt, each in a new session; read by the batch as it needs them."""
    for prompt in prompts:
        session = await client.sessions.create(config)
        yield amas.ExecuteRequest(
            session_id=session.id, content=prompt["content"], inputs=prompt["inputs"]
        )


def row(prompt: dict[str, Any], result: amas.BatchResult) -> dict[str, Any]:
    """The output line of one result."""
    execution = result.execution
    usage = execution.usage if execution is not None else None
    return {
        "id": prompt["id"],
        "ok": result.ok,
        "reply": execution.text if execution is not None else None,
        "usage": (
            {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
            if usage is not None
            else None
        ),
        "attempts": result.attempts,
        "error": None if result.error is None else f"{type(result.error).__name__}: {result.error}",
    }


@contextlib.contextmanager
def progress_display(total: int, stream: TextIO) -> Iterator[Any]:
    """A callable ``advance(failed: bool)``: a rich bar on a terminal, a counter line otherwise."""
    if stream.isatty():
        with Progress(
            TextColumn("[bold]answering"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeRemainingColumn(),
            console=Console(file=stream),
        ) as bar:
            task = bar.add_task("batch", total=total, failed=0)
            failures = 0

            def advance_bar(failed: bool) -> None:
                nonlocal failures
                failures += failed
                bar.update(task, advance=1, failed=failures)

            yield advance_bar
        return
    done = failures = 0
    every = max(1, total // 10)

    def advance_line(failed: bool) -> None:
        nonlocal done, failures
        done += 1
        failures += failed
        if done % every == 0 or done == total:
            print(f"{done}/{total} done, {failures} failed", file=stream, flush=True)

    yield advance_line


async def run(args: argparse.Namespace, base_url: str | None, api_key: str | None) -> int:
    """Run the batch; the exit status."""
    inputs = dict(pair.split("=", 1) for pair in args.input)
    prompts = read_prompts(args.prompts, inputs)
    config = amas.SessionConfig.from_yaml(args.config).validate()
    out = sys.stdout if args.output is None else args.output.open("w", encoding="utf-8")
    failed = 0
    try:
        async with amas.AsyncAmas(base_url=base_url, api_key=api_key) as client:
            stream = client.runtime.iter_execute_many(
                requests(client, config, prompts),
                concurrency=args.concurrency,
                rate_limit=args.rps,
            )
            # aclosing: leaving early (an error, Ctrl-C) cancels what is still in flight
            async with contextlib.aclosing(stream):
                with progress_display(len(prompts), sys.stderr) as advance:
                    async for result in stream:
                        out.write(json.dumps(row(prompts[result.index], result)) + "\n")
                        failed += not result.ok
                        advance(not result.ok)
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"{len(prompts) - failed} answered, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


async def run_on_emulator(args: argparse.Namespace) -> int:
    """Run the batch against an emulator started in this process."""
    from amas_async.testing import Emulator

    async with Emulator() as emulator:
        return await run(args, emulator.base_url, emulator.api_key)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("prompts", type=Path, help="a .jsonl file, or a text file of lines")
    parser.add_argument("-o", "--output", type=Path, help="results JSONL (default: stdout)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="session config")
    parser.add_argument(
        "-i", "--input", action="append", default=[], metavar="KEY=VALUE",
        help="a variable for every prompt (repeatable)",
    )  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=8, help="executions at once")
    parser.add_argument("--rps", type=float, default=None, help="requests per second at most")
    parser.add_argument("--emulator", action="store_true", help="run against an embedded emulator")
    args = parser.parse_args(argv)
    if any("=" not in pair for pair in args.input):
        parser.error("--input takes KEY=VALUE")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the script; its exit status."""
    args = parse_args(argv)
    if args.emulator:
        return asyncio.run(run_on_emulator(args))
    return asyncio.run(run(args, None, None))


if __name__ == "__main__":
    sys.exit(main())
