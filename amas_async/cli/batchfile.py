"""The files of ``amas batch``: JSONL input read lazily, JSONL output appended safely, resume.

Input: one JSON object per line with ``id``, ``content``, and optional ``inputs`` and
``session`` (a key: lines with the same key share one session). Blank lines are skipped; a
malformed line is reported with its number and skipped, never stopping the batch.

Keys (:func:`session_key`, :func:`line_key`): every session the batch creates is created
with an ``Idempotency-Key`` derived from the batch (the output file it writes, by its resolved
path, and the config's content) and the session's scope (its ``session`` key, or the line's
id, content and inputs for a line without one); every line is sent with a key derived from its
session, id, content and inputs. Both are the same on every run of the batch, so a resumed run
re-sends them: a server that honours keys answers with the sessions and the answers of the
first run, and a line that may have run before the interruption (or whose answer was lost) is
not run again. The batch is its output path and config, not the output's contents: running it
again after deleting the output, within the server's key lifetime, gets the same sessions and
answers back; write to a new output path (or change the config) to run afresh.

Output: one JSON object per line (``id``, ``status`` ``ok``/``error``, ``session``,
``session_id``, ``text``, ``usage``, ``attempts``, ``elapsed``, ``error``), each written with
a single ``write`` on a file opened for appending, so a crash never leaves half a line
behind other lines. Resuming reads the output: ids that succeeded are skipped, sessions made
for a key are reused, failed lines are dropped from the file (to be run again), and a
partial last line from a crash is cut off.

Shards (``--shard I/N``, :class:`Shard`): N processes, each given one I in ``0..N-1``, split
the lines between them, deterministically and disjointly, without talking to each other.
A line goes to shard :func:`shard_of` of its *shard key*: its ``session`` key if it has one
(so a conversation stays in one session, in input order), else its ``id``. Every shard reads
the whole input, so duplicate ids are found as without shards (the first occurrence runs);
a line that cannot be run (malformed, or a duplicate id) is reported by exactly one shard,
``(line number - 1) % N``. Each shard writes, and resumes from, its own output file
(:meth:`Shard.output_path`); the shards' files together hold what one run would.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from .._client import AsyncAmas
from ..batch import BatchResult, ExecuteRequest
from ..errors import AmasError, APIStatusError
from ..resources._config_body import config_body

__all__ = [
    "InputLine",
    "Malformed",
    "OutputFile",
    "Shard",
    "Summary",
    "count_lines",
    "read_input",
    "record",
    "run_file_batch",
    "shard_of",
]


@attrs.frozen
class InputLine:
    """One valid input line."""

    number: int
    id: str
    content: Any
    inputs: Mapping[str, Any] | None
    session: str | None


@attrs.frozen
class Malformed:
    """An input line that cannot be run, and why."""

    number: int
    reason: str


def shard_of(key: str, count: int) -> int:
    """The shard (``0 <= shard < count``) of a line whose shard key is ``key``.

    The formula, to reproduce it elsewhere: the first 8 bytes of the SHA-256 of the key's
    UTF-8 encoding, read as a big-endian unsigned integer, modulo ``count``::

        int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % count

    The key is the line's ``session`` key if it has one, else its ``id``, as a string (the
    integer id ``7`` is ``"7"``). It depends on nothing else, so it is the same on every run,
    machine and Python hash seed.
    """
    if count < 1:
        raise ValueError(f"the shard count must be at least 1, got {count}")
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


_SHARD = re.compile(r"(-?[0-9]+)/(-?[0-9]+)")


@attrs.frozen
class Shard:
    """Shard ``index`` of ``count`` (0-based: ``0 <= index < count``) of a file batch.

    It runs the valid lines whose shard key (``session``, else ``id``) has
    :func:`shard_of` ``== index``, and reports the lines that cannot be run whose line number
    ``n`` has ``(n - 1) % count == index``. ``Shard(0, 1)`` runs every line.
    """

    index: int
    count: int

    def __attrs_post_init__(self) -> None:
        """Check ``count >= 1`` and ``0 <= index < count``."""
        if self.count < 1:
            raise ValueError(
                f"the shard count N must be at least 1, got {self.count} "
                "(I/N is 0-based: 0 <= I < N)"
            )
        if not 0 <= self.index < self.count:
            raise ValueError(
                f"shard index {self.index} is out of range: I is 0-based, "
                f"0 <= I < N (0 to {self.count - 1} for N={self.count})"
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"3/8"`` as ``Shard(3, 8)``; a ``ValueError`` that says why for anything else."""
        match = _SHARD.fullmatch(text.strip())
        if match is None:
            raise ValueError(
                f"expected I/N (shard I of N, 0-based: 0 <= I < N, for example 0/4), got {text!r}"
            )
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        """``I/N``."""
        return f"{self.index}/{self.count}"

    def output_path(self, path: Path) -> Path:
        """The shard's own output: ``results.jsonl`` -> ``results.shard-3-of-8.jsonl``.

        The shard goes before the last suffix, or at the end without one (``results`` ->
        ``results.shard-3-of-8``).
        """
        tag = f"shard-{self.index}-of-{self.count}"
        if path.suffix:
            return path.with_name(f"{path.stem}.{tag}{path.suffix}")
        return path.with_name(f"{path.name}.{tag}")

    def owns(self, line: InputLine | Malformed) -> bool:
        """Whether this shard runs (or, for a malformed line, reports) the line."""
        if self.count == 1:
            return True
        if isinstance(line, Malformed):
            return (line.number - 1) % self.count == self.index
        key = line.session if line.session is not None else line.id
        return shard_of(key, self.count) == self.index


def count_lines(path: Path, shard: Shard | None = None) -> int:
    """Non-blank lines of a file, or only the shard's (for the progress bar's total)."""
    if shard is not None and shard.count > 1:
        return sum(1 for line in read_input(path) if shard.owns(line))
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def _parse(number: int, text: str) -> InputLine | Malformed:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return Malformed(number, f"not valid JSON ({exc.msg})")
    if not isinstance(data, dict):
        return Malformed(number, f"expected a JSON object, got {type(data).__name__}")
    raw_id = data.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or raw_id == "":
        return Malformed(number, "needs an 'id' (a string or an integer)")
    if "content" not in data:
        return Malformed(number, "needs 'content'")
    inputs = data.get("inputs")
    if inputs is not None and not isinstance(inputs, dict):
        return Malformed(number, "'inputs' must be an object")
    session = data.get("session")
    if session is not None and not isinstance(session, (str, int)):
        return Malformed(number, "'session' must be a string key")
    unknown = set(data) - {"id", "content", "inputs", "session"}
    if unknown:
        return Malformed(number, f"unknown keys {sorted(unknown)}")
    return InputLine(
        number, str(raw_id), data["content"], inputs, None if session is None else str(session)
    )


def read_input(path: Path) -> Iterator[InputLine | Malformed]:
    """The input's lines, parsed one at a time; duplicate ids are reported as malformed."""
    seen: set[str] = set()
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            line = _parse(number, text)
            if isinstance(line, InputLine):
                if line.id in seen:
                    yield Malformed(number, f"duplicate id {line.id!r}")
                    continue
                seen.add(line.id)
            yield line


def record(
    line: InputLine, session_id: str | None, result: BatchResult | None, error: AmasError | None
) -> dict[str, Any]:
    """The output record of one line, from its batch result (or a session creation error)."""
    failure = error if error is not None else result.error if result is not None else None
    execution = result.execution if result is not None else None
    out: dict[str, Any] = {
        "id": line.id,
        "status": "ok" if failure is None else "error",
        "session": line.session,
        "session_id": session_id,
        "text": execution.text if execution is not None else None,
        "usage": None,
        "attempts": result.attempts if result is not None else 1,
        "elapsed": round(result.elapsed, 4) if result is not None else 0.0,
        "error": None,
    }
    if execution is not None and execution.usage is not None:
        out["usage"] = {
            "input_tokens": execution.usage.input_tokens,
            "output_tokens": execution.usage.output_tokens,
        }
    if failure is not None:
        out["error"] = {
            "type": type(failure).__name__,
            "status_code": failure.status_code if isinstance(failure, APIStatusError) else None,
            "message": str(failure),
        }
    return out


class OutputFile:
    """The output JSONL: what earlier runs finished, and a safe appender for this one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: set[str] = set()
        self.sessions: dict[str, str] = {}
        self.dropped_failures = 0
        self._fd: int | None = None

    def load(self) -> None:
        """Read earlier runs; keep their successes, drop their failures and any partial line."""
        if not self.path.exists():
            return
        kept: list[bytes] = []
        with self.path.open("rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break  # a line cut short by a crash
                try:
                    data = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(data, dict) or "id" not in data:
                    continue
                key, session_id = data.get("session"), data.get("session_id")
                if isinstance(key, str) and isinstance(session_id, str):
                    self.sessions.setdefault(key, session_id)
                if data.get("status") == "ok":
                    if str(data["id"]) not in self.done:
                        self.done.add(str(data["id"]))
                        kept.append(raw)
                else:
                    self.dropped_failures += 1
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_bytes(b"".join(kept))
        os.replace(temporary, self.path)

    def open(self) -> None:
        """Open for appending (creating the file)."""
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, data: Mapping[str, Any]) -> None:
        """Append one record as one line, in a single write."""
        assert self._fd is not None
        line = (json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8")
        view = memoryview(line)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _digest(*parts: Any) -> str:
    material = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:40]


def batch_identity(output_path: Path, config: Any) -> str:
    """What identifies a batch for its session keys: its output and its config's content.

    The output is the file the run writes (a shard's own file), by its resolved path; the
    config is the body its sessions are created with (a file's bytes as written, a mapping or
    :class:`~amas_async.SessionConfig` as JSON), so a changed config makes new sessions. A
    config that cannot be read raises its :class:`~amas_async.AmasError` (nothing is sent).
    """
    body, content_type = config_body(config, check=False)
    return _digest(str(output_path.resolve()), content_type, hashlib.sha256(body).hexdigest())


def session_key(batch: str, line: InputLine) -> str:
    """The Idempotency-Key that creates a line's session in the batch ``batch``.

    ``batch`` is :func:`batch_identity`. A line with a ``session`` key shares the key's
    session; a line without one has a session of its own, keyed by its id, content and
    inputs (a changed line gets a new session). The same on every run of the batch, so a
    server that honours keys gives a resumed run the sessions of the first one.
    """
    if line.session is not None:
        scope: tuple[Any, ...] = ("session", line.session)
    else:
        scope = ("line", line.id, line.content, line.inputs)
    return "amas-batch-session-" + _digest(batch, *scope)


def line_key(session_id: str, line: InputLine) -> str:
    """The Idempotency-Key of a line: the same on a resumed run, new if the line changed.

    A request cancelled by Ctrl-C may have run on the server; resuming sends the same key, so a
    server that honours keys answers with the first result instead of running the turn again.
    """
    material = json.dumps(
        [session_id, line.id, line.content, line.inputs], sort_keys=True, default=str
    )
    return "amas-batch-" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:40]


@attrs.define
class Summary:
    """What a file batch did."""

    ok: int = 0
    failed: int = 0
    skipped: int = 0
    malformed: int = 0
    dropped_failures: int = 0


async def run_file_batch(
    client: AsyncAmas,
    input_path: Path,
    output: OutputFile,
    *,
    config: Any = None,
    session_id: str | None = None,
    concurrency: int = 16,
    rate_limit: float | None = None,
    on_line: Callable[[dict[str, Any]], None] | None = None,
    on_malformed: Callable[[Malformed], None] | None = None,
    summary: Summary | None = None,
    shard: Shard | None = None,
) -> Summary:
    """Run every input line not yet done; append a record per line as it completes.

    Lines with a ``session`` key share one session created from ``config`` (or reused from an
    earlier run); lines without one get a session each, or all use ``session_id``. Sessions
    are created with :func:`session_key`, derived from ``output``'s path and ``config``, so a
    re-run of the batch, resumed or after its output was deleted, gets the same sessions
    from a server that honours keys (within its key lifetime).
    With ``shard``, only its lines are run and only its malformed lines reported (the others
    are passed over without a word). ``summary`` (filled in as lines complete, so it is right
    even after an interruption) is returned.
    """
    summary = summary if summary is not None else Summary()
    summary.dropped_failures = output.dropped_failures
    sessions = dict(output.sessions)
    failed_keys: dict[str, AmasError] = {}
    meta: dict[int, tuple[InputLine, str]] = {}
    submitted = 0

    def emit(
        line: InputLine, sid: str | None, result: BatchResult | None, error: AmasError | None
    ) -> None:
        data = record(line, sid, result, error)
        output.write(data)
        if data["status"] == "ok":
            summary.ok += 1
        else:
            summary.failed += 1
        if on_line is not None:
            on_line(data)

    batch: str | None = None  # batch_identity, read once the first session is needed

    async def create(line: InputLine) -> str:
        nonlocal batch
        if batch is None:
            batch = batch_identity(output.path, config)
        key = session_key(batch, line)
        return (await client.sessions.create(config, idempotency_key=key)).id

    async def session_for(line: InputLine) -> str:
        if session_id is not None:
            return session_id
        if line.session is None:
            return await create(line)
        if line.session in failed_keys:
            raise failed_keys[line.session]
        if line.session not in sessions:
            try:
                sessions[line.session] = await create(line)
            except AmasError as exc:
                failed_keys[line.session] = exc
                raise
        return sessions[line.session]

    async def requests() -> AsyncIterator[ExecuteRequest]:
        nonlocal submitted
        for line in read_input(input_path):
            if shard is not None and not shard.owns(line):
                continue
            if isinstance(line, Malformed):
                summary.malformed += 1
                if on_malformed is not None:
                    on_malformed(line)
                continue
            if line.id in output.done:
                summary.skipped += 1
                continue
            try:
                sid = await session_for(line)
            except AmasError as exc:
                emit(line, None, None, exc)
                continue
            meta[submitted] = (line, sid)
            submitted += 1
            yield ExecuteRequest(
                session_id=sid,
                content=line.content,
                inputs=line.inputs,
                idempotency_key=line_key(sid, line),
            )

    stream = client.runtime.iter_execute_many(
        requests(), concurrency=concurrency, rate_limit=rate_limit
    )
    try:
        async for result in stream:
            line, sid = meta.pop(result.index)
            emit(line, sid, result, None)
    finally:
        await stream.aclose()
    return summary
