"""``AmasExecute``: executions as a Ray Data stage (``Dataset.map_batches``).

One instance lives in each Ray actor of the stage and holds one :class:`AsyncAmas` for the
actor's life, opened on the event loop Ray Data runs async UDFs on. Each batch goes through
:func:`amas_async.batch.execute_many`: at most ``concurrency`` requests in flight per actor
(shared by the batches an actor runs at once), rows of one session in order, 429s lowering
the concurrency; a ``rate_limit`` is one :class:`ClusterRateLimit` for the whole cluster.

Exactly once under Ray's retries: every row's ``Idempotency-Key`` is derived from the run id
(default: the Ray job's id), its session and its ``id`` column, and a session the stage
creates for a row (or for a ``session`` key) is created with a key derived the same way. A
re-run of a batch (a task retried, an actor restarted) therefore sends the same keys, and a
server that honours them answers with the first result instead of running the turn again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from .._checks import check_int
from .._client import AsyncAmas
from .._config import TimeoutTypes
from .._config_files import read_config_source
from .._retry import RetryPolicy
from .._throttle import Throttle
from ..batch import BatchResult, ExecuteRequest, execute_many
from ..errors import AmasError, APIStatusError, InvalidRequestError
from ..models import Execution
from ..resources._config_body import config_body
from ._rate import ClusterRateLimit
from ._rows import add_columns, column_names, to_rows

__all__ = ["INPUT_COLUMNS", "OUTPUT_COLUMNS", "AmasExecute", "InvalidRowError", "RowFailedError"]

logger = logging.getLogger("amas_async.ray")

INPUT_COLUMNS = (
    "id",
    "content",
    "inputs",
    "session_id",
    "session",
    "agent_key",
    "agent_id",
    "config",
)
"""The columns :class:`AmasExecute` reads: ``id`` and ``content`` are needed, the rest optional.

``inputs`` (a mapping) fills the config's variables; ``session_id`` names an existing session;
otherwise rows with the same ``session`` key share a session made from the row's ``config``,
``agent_key`` or ``agent_id`` (or the stage's own). Other columns pass through unchanged, but
a batch that already has one of the :data:`OUTPUT_COLUMNS` other than ``session_id`` is refused."""
OUTPUT_COLUMNS = (
    "session_id",
    "status",
    "text",
    "input_tokens",
    "output_tokens",
    "attempts",
    "elapsed",
    "error_type",
    "error_status_code",
    "error",
)
"""The columns :class:`AmasExecute` adds to every batch (``session_id`` is filled in for every row).

``status`` is ``"ok"`` or ``"error"``; ``text`` the reply; ``input_tokens`` and
``output_tokens`` the usage when the answer reports it; ``attempts`` and ``elapsed`` (seconds)
how the call went; for a failed row ``error_type`` (the SDK's error class name),
``error_status_code`` (the HTTP status, when there was one) and ``error`` (the message)."""
_KEY_PREFIX = "amas-ray-"


def _digest(*parts: Any) -> str:
    material = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:40]


class InvalidRowError(InvalidRequestError):
    """A row the stage cannot run (no usable ``id``, no session source); in its error column."""


class _Plan:
    """How one row runs: its lane (a session id, or the conversation whose session is made)."""

    __slots__ = ("content", "inputs", "lane", "row_id", "run_id", "session_id", "shared", "source")

    def __init__(self, run_id: str, row_id: str, content: Any, inputs: Any) -> None:
        self.run_id, self.row_id, self.content, self.inputs = run_id, row_id, content, inputs
        self.lane = ""
        self.session_id: str | None = None
        self.source: _Source | None = None
        self.shared = False


class _Source:
    """Where a row's session comes from: a config, or a saved agent by key or id."""

    __slots__ = ("agent_id", "agent_key", "config", "fingerprint")

    def __init__(self, config: Any = None, agent_key: Any = None, agent_id: Any = None) -> None:
        self.config, self.agent_key, self.agent_id = config, agent_key, agent_id
        self.fingerprint = _digest(config, agent_key, agent_id)


class AmasExecute:
    """A Ray Data stage that runs each row as an execution: ``ds.map_batches(AmasExecute, ...)``.

    Pass it as the class with ``fn_constructor_kwargs``; Ray makes one per actor:

    ```python
    ds.map_batches(
        AmasExecute,
        fn_constructor_kwargs={"config": "examples/support_agent.yaml", "concurrency": 16},
        compute=ray.data.ActorPoolStrategy(size=4),  # actors
        batch_size=256,
        num_cpus=0.5,
    )
    ```

    Input columns: ``id`` (a stable row id: str or int, unique; it makes the idempotency
    keys), ``content`` (text, or a list of parts in the wire shape), optional ``inputs`` (a
    mapping). The session: ``session_id`` (an existing session), else one is created per
    ``session`` key (rows with the same key share it, in order; without the column, one per
    row) from the row's ``config``, ``agent_id`` or ``agent_key`` column, else from the
    ``config``/``agent_id``/``agent_key`` given here. A ``config`` is anything
    ``sessions.create`` takes (a path is read on the worker).

    Output: the input columns plus :data:`OUTPUT_COLUMNS`: ``status`` (``"ok"`` or
    ``"error"``), the reply ``text``, ``input_tokens``/``output_tokens``, ``attempts``,
    ``elapsed`` seconds, and for a failed row ``error_type`` (the SDK's error class name),
    ``error_status_code`` and ``error`` (the message). A failed row never fails the dataset
    unless ``raise_on_error=True``.

    ``concurrency`` bounds requests in flight per actor (and adapts to 429s); ``rate_limit``
    (requests per second, or a :class:`ClusterRateLimit`) is shared by every actor of the
    cluster. ``run_id`` scopes the idempotency keys: by default the Ray job's id, so Ray's
    own re-runs within a job never repeat a turn; give a fixed one to make a resubmitted job
    reuse the first job's answers. ``base_url``, ``api_key``, ``timeout``, ``max_retries``,
    ``retry`` and ``client_options`` (other ``AsyncAmas`` keyword arguments) configure the
    client; the key defaults to ``AMAS_API_KEY`` in the worker's environment.
    """

    def __init__(
        self,
        *,
        config: Any = None,
        agent_key: str | None = None,
        agent_id: str | None = None,
        concurrency: int = 16,
        rate_limit: float | ClusterRateLimit | None = None,
        run_id: str | None = None,
        raise_on_error: bool = False,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: TimeoutTypes = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._concurrency = check_int(concurrency, "concurrency")
        if sum(value is not None for value in (config, agent_key, agent_id)) > 1:
            raise InvalidRequestError("give at most one of config, agent_key or agent_id")
        if config is not None:
            config_body(config)  # a bad config fails the actor at once, before any row
            if isinstance(config, (str, os.PathLike)):  # a path is read once, on the worker
                config = read_config_source(config).text
        self._default = _Source(config, agent_key, agent_id)
        if rate_limit is None or isinstance(rate_limit, ClusterRateLimit):
            self._rate_limit = rate_limit
        else:
            self._rate_limit = ClusterRateLimit(rate_limit)
        if run_id is not None and (not isinstance(run_id, str) or not run_id):
            raise InvalidRequestError("run_id must be a non-empty str")
        self._run_id = run_id
        self._raise_on_error = bool(raise_on_error)
        options = dict(client_options or {})
        if "throttle" in options:
            raise InvalidRequestError("client_options cannot set throttle: use rate_limit")
        given: dict[str, Any] = {"base_url": base_url, "api_key": api_key, "timeout": timeout}
        given.update(max_retries=max_retries, retry=retry)
        options.update((name, value) for name, value in given.items() if value is not None)
        throttle = (
            Throttle(max_concurrency=self._concurrency)
            if self._rate_limit is None
            else self._rate_limit.throttle(self._concurrency)
        )
        # Made here (a missing key fails the actor at once), opened on the first batch's loop.
        self._client = AsyncAmas(**options, throttle=throttle)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._plans: dict[int, _Plan] = {}
        self._sessions: dict[str, str] = {}  # conversation lane -> session id
        self._creating: dict[str, asyncio.Future[str]] = {}
        self._agent_ids: dict[str, str] = {}
        self._order: dict[str, list[Any]] = {}  # session id -> [lock, users]

    def __repr__(self) -> str:
        return (
            f"AmasExecute(base_url={self._client.base_url!r}, concurrency={self._concurrency}, "
            f"rate_limit={self._rate_limit!r})"
        )

    # ---------------------------------------------------------------- the stage

    async def __call__(self, batch: Any) -> Any:
        """Run the batch's rows; the batch with the result columns added."""
        if self._loop is None:
            self._loop, self._loop_thread = asyncio.get_running_loop(), threading.get_ident()
        names = column_names(batch)
        for needed in ("id", "content"):
            if needed not in names:
                raise InvalidRequestError(
                    f"AmasExecute needs a {needed!r} column; the batch has {sorted(names)}"
                )
        clash = sorted(set(names) & set(OUTPUT_COLUMNS) - {"session_id"})
        if clash:
            raise InvalidRequestError(
                f"the batch already has output columns {clash}: rename them before AmasExecute"
            )
        rows = to_rows(batch)
        results = await self._run(rows, self._run_id or _job_id())
        if self._raise_on_error:
            for row, record in zip(rows, results, strict=True):
                if record["status"] != "ok":
                    raise RowFailedError(row.get("id"), record)
        columns = {name: [record[name] for record in results] for name in OUTPUT_COLUMNS}
        return add_columns(batch, columns)

    async def _run(self, rows: list[dict[str, Any]], run_id: str) -> list[dict[str, Any]]:
        """One record per row: its plan goes through the batch engine, its lane a session."""
        records: list[dict[str, Any] | None] = [None] * len(rows)
        requests: list[ExecuteRequest] = []
        plans: list[tuple[int, _Plan]] = []
        for index, row in enumerate(rows):
            plan = self._plan(row, run_id)
            if isinstance(plan, AmasError):
                records[index] = _record(row.get("session_id"), None, plan)
                continue
            # The engine keeps a lane's requests in order; the lane is the conversation, whose
            # session is found or made when its first request runs.
            request = ExecuteRequest(session_id=plan.lane, content=plan.content)
            self._plans[id(request)] = plan
            requests.append(request)
            plans.append((index, plan))
        try:
            done = await execute_many(self._send, requests, concurrency=self._concurrency)
        finally:
            for request in requests:
                self._plans.pop(id(request), None)
        for (index, plan), result in zip(plans, done, strict=True):
            records[index] = _record(plan.session_id, result, result.error)
        return [record for record in records if record is not None]

    def _plan(self, row: Mapping[str, Any], run_id: str) -> _Plan | AmasError:
        row_id = row.get("id")
        if isinstance(row_id, bool) or not isinstance(row_id, (str, int)) or row_id == "":
            return InvalidRowError(f"a row needs an 'id' (a str or an int), got {row_id!r}")
        row_id = str(row_id)
        plan = _Plan(run_id, row_id, _without_nulls(row.get("content")), row.get("inputs"))
        given = row.get("session_id")
        if isinstance(given, str) and given:
            plan.session_id = plan.lane = given
            return plan
        source = self._default
        if any(row.get(name) is not None for name in ("config", "agent_key", "agent_id")):
            source = _Source(row.get("config"), row.get("agent_key"), row.get("agent_id"))
        if source.config is None and source.agent_key is None and source.agent_id is None:
            return InvalidRowError(
                "no session for the row: give a session_id column, or a config, agent_key or "
                "agent_id (a column or an AmasExecute argument)"
            )
        conversation = row.get("session")
        if conversation is not None:
            plan.shared = True
            scope: tuple[str, str] = ("session", str(conversation))
        else:
            scope = ("row", row_id)
        plan.source = source
        plan.lane = "new-" + _digest(run_id, *scope, source.fingerprint)
        return plan

    async def _send(self, request: ExecuteRequest) -> Execution:
        plan = self._plans[id(request)]
        if plan.session_id is None:
            plan.session_id = await self._session(plan)
        session_id = plan.session_id
        key = _KEY_PREFIX + _digest(plan.run_id, session_id, plan.row_id, plan.content, plan.inputs)
        # Batches an actor runs at once share its client: keep one session's turns in order.
        entry = self._order.get(session_id)
        if entry is None:
            entry = self._order[session_id] = [asyncio.Lock(), 0]
        entry[1] += 1
        try:
            async with entry[0]:
                return await self._client.runtime.execute(
                    session_id, plan.content, inputs=plan.inputs, idempotency_key=key
                )
        finally:
            entry[1] -= 1
            if not entry[1]:
                del self._order[session_id]

    async def _session(self, plan: _Plan) -> str:
        """The session of a plan's lane: made once (keyed, so a re-run gets the same one)."""
        lane, source = plan.lane, plan.source
        assert source is not None
        key = _KEY_PREFIX + "session-" + lane
        if not plan.shared:  # one row, one session: nothing to remember
            return await self._create(source, key)
        known = self._sessions.get(lane)
        if known is not None:
            return known
        pending = self._creating.get(lane)
        if pending is None:  # the first of this conversation's rows makes it; others wait
            pending = asyncio.ensure_future(self._create(source, key))
            self._creating[lane] = pending
            pending.add_done_callback(lambda _: self._creating.pop(lane, None))
        session_id = await asyncio.shield(pending)
        self._sessions[lane] = session_id
        return session_id

    async def _create(self, source: _Source, key: str) -> str:
        sessions = self._client.sessions
        if source.config is not None:
            return (await sessions.create(source.config, idempotency_key=key)).id
        agent_id = source.agent_id
        if agent_id is None:
            agent_id = await self._agent_id(str(source.agent_key))
        return (await sessions.from_agent(agent_id=str(agent_id), idempotency_key=key)).id

    async def _agent_id(self, agent_key: str) -> str:
        # The agent_key form of from_agent is a GET, which carries no key: a re-run would make
        # a second session. The id form is a POST that does; find the id once per actor.
        known = self._agent_ids.get(agent_key)
        if known is None:
            async for agent in self._client.agents.iter():
                if agent.agent_key is not None and agent.id is not None:
                    self._agent_ids.setdefault(agent.agent_key, agent.id)
            known = self._agent_ids.get(agent_key)
            if known is None:
                raise InvalidRowError(f"no saved agent has the key {agent_key!r}")
        return known

    # ---------------------------------------------------------------- lifetime

    async def aclose(self) -> None:
        """Close the client, from its event loop (when the stage is used outside Ray Data)."""
        await self._client.aclose()

    def close(self) -> None:
        """Close the client from another thread (Ray Data's actor shutdown, via ``__del__``)."""
        client, loop = self._client, self._loop
        if client.is_closed or loop is None or loop.is_closed() or not loop.is_running():
            return
        future = asyncio.run_coroutine_threadsafe(client.aclose(), loop)
        if threading.get_ident() != self._loop_thread:  # on the loop's thread it cannot wait
            try:
                future.result(timeout=10)
            except Exception:  # pragma: no cover - best effort at shutdown
                logger.debug("AmasExecute: closing the client failed", exc_info=True)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()


class AmasExecuteGroups:
    """:class:`AmasExecute` for ``GroupedData.map_groups``, which calls its function synchronously.

    Rows of one conversation may be anywhere in a dataset; grouping them by session brings each
    conversation to one call, so its turns run in one session, in order:

    ```python
    ds.groupby("session").map_groups(
        AmasExecuteGroups, fn_constructor_kwargs={...}, compute=ActorPoolStrategy(size=4)
    )
    ```

    It takes the same arguments and gives the same columns; the stage runs on an event loop
    of its own, in a thread of the actor.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._stage = AmasExecute(**kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="amas-execute-groups", daemon=True
        )
        self._thread.start()

    def __repr__(self) -> str:
        return repr(self._stage).replace("AmasExecute(", "AmasExecuteGroups(", 1)

    def __call__(self, batch: Any) -> Any:
        """Run the group's rows (blocking); the batch with the result columns added."""
        return asyncio.run_coroutine_threadsafe(self._stage(batch), self._loop).result()

    def close(self) -> None:
        """Close the client and stop the loop's thread (idempotent)."""
        if self._loop.is_closed():
            return
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._stage.aclose(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()


class RowFailedError(AmasError):
    """A row failed and ``raise_on_error=True``: fails the batch (Ray may retry it).

    ``row_id`` is the row's ``id`` column and ``record`` the output columns the row would have
    had (:data:`OUTPUT_COLUMNS`, with ``error_type`` and ``error`` saying what went wrong).
    """

    def __init__(self, row_id: Any, record: Mapping[str, Any]) -> None:
        super().__init__(
            f"row {row_id!r} failed: {record.get('error_type')}: {record.get('error')}"
        )
        self.row_id = row_id
        self.record = dict(record)


def _record(session_id: Any, result: BatchResult | None, error: AmasError | None) -> dict[str, Any]:
    execution = result.execution if result is not None else None
    usage = execution.usage if execution is not None else None
    return {
        "session_id": session_id if isinstance(session_id, str) else None,
        "status": "ok" if error is None else "error",
        "text": execution.text if execution is not None else None,
        "input_tokens": usage.input_tokens if usage is not None else None,
        "output_tokens": usage.output_tokens if usage is not None else None,
        "attempts": result.attempts if result is not None else 0,
        "elapsed": round(result.elapsed, 6) if result is not None else 0.0,
        "error_type": type(error).__name__ if error is not None else None,
        "error_status_code": error.status_code if isinstance(error, APIStatusError) else None,
        "error": str(error) if error is not None else None,
    }


def _without_nulls(content: Any) -> Any:
    """Parts without their null fields: an Arrow list of structs gives every part every field."""
    if isinstance(content, Mapping):
        return {key: _without_nulls(value) for key, value in content.items() if value is not None}
    if isinstance(content, list):
        return [_without_nulls(part) for part in content]
    return content


def _job_id() -> str:
    """The default run id: the Ray job's id (the same in every actor and re-run of the job)."""
    import ray

    if not ray.is_initialized():
        raise InvalidRequestError(
            "AmasExecute runs outside a Ray job here: give run_id= (it scopes the keys)"
        )
    return "job-" + str(ray.get_runtime_context().get_job_id())
