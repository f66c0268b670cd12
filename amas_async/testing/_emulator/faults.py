"""Fault injection and scripting [OURS throughout]: how a test makes requests fail.

:class:`FaultScripting` holds the public methods :class:`Emulator` inherits
(:meth:`~FaultScripting.fail_next`, :meth:`~FaultScripting.respond_next`, ...).
They write into :class:`Faults`, the thread-safe script the request pipeline and the execute
endpoint consume; :class:`Rule` and :class:`TokenBucket` are its data types.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

Drop = Literal["drop", "reset", "drop_after"]
"""How a connection is dropped instead of answered: closed (``"drop"``) or reset (``"reset"``)
before the endpoint, or closed after the endpoint ran and its answer was stored for replay
(``"drop_after"``)."""

Fault = int | Drop
"""A random fault: an HTTP status to answer, or a :data:`Drop`."""

DROPS: Final[tuple[Drop, ...]] = ("drop", "reset", "drop_after")
"""The :data:`Drop` kinds, as ``set_fault_rate(statuses=...)`` accepts them."""

_FAIL_NEXT_DROPS: Final[dict[str, Drop]] = {
    "before": "drop",
    "reset": "reset",
    "after": "drop_after",
}
"""``fail_next(drop=...)`` strings and the drop each means (``True`` is ``"before"``)."""

EXECUTION_FAILURES: Final = {
    "error": ("execution_error", "The agent execution failed (injected by the emulator)"),
    "timeout": ("timeout_error", "The agent execution timed out (injected by the emulator)"),
}
"""Run statuses :meth:`FaultScripting.fail_execution_next` can inject: (error type, message)."""


@dataclass
class Rule:
    """A scripted answer for the next ``remaining`` requests that match ``path``/``method``.

    ``error`` answers the documented error body for ``status``; otherwise ``body`` is sent
    raw. ``drop`` closes or resets the connection instead (``"drop_after"``: once the request
    has gone on to the endpoint); ``delay`` is waited first.
    """

    remaining: int
    path: str | None
    method: str | None
    status: int
    headers: dict[str, str]
    body: bytes | None = None
    error: bool = True
    drop: Drop | None = None
    delay: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        """Whether the rule applies: same method (if set), ``path`` contained (if set)."""
        if self.method is not None and self.method != method.upper():
            return False
        return self.path is None or self.path in path


@dataclass
class TokenBucket:
    """The rate limit: ``burst`` tokens, refilled at ``rate`` per second."""

    rate: float
    burst: int
    tokens: float
    updated: float

    def take(self, now: float) -> float | None:
        """Take one token; return None on success or the seconds until one is available."""
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.rate


def format_retry_after(value: str | float | None) -> str | None:
    """A ``Retry-After`` value: numbers as whole or trimmed decimal seconds, strings as is."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise ValueError(f"retry_after must be a non-negative number or a string: {value!r}")
    if float(value).is_integer():
        return str(int(value))
    return f"{float(value):.3f}".rstrip("0").rstrip(".")


def check_status(status: int) -> int:
    """Return ``status`` if it is an HTTP status code (100..599), else raise ValueError."""
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"status must be an HTTP status code, got {status!r}")
    return status


def check_fault(fault: int | str) -> Fault:
    """Return ``fault`` if it is an HTTP status code or a :data:`Drop`, else raise ValueError."""
    if isinstance(fault, str):
        for drop in DROPS:
            if fault == drop:
                return drop
        raise ValueError(
            "a fault must be an HTTP status code or one of 'drop', 'reset', 'drop_after', "
            f"got {fault!r}"
        )
    return check_status(fault)


def check_drop(drop: bool | str) -> Drop | None:
    """The :data:`Drop` a ``fail_next(drop=...)`` value means (None for False), or ValueError."""
    if drop is False:
        return None
    if drop is True:
        return "drop"
    if isinstance(drop, str) and drop in _FAIL_NEXT_DROPS:
        return _FAIL_NEXT_DROPS[drop]
    raise ValueError(f"drop must be True, False, 'before', 'after' or 'reset', got {drop!r}")


def check_count(count: int) -> int:
    """Return ``count`` if it is a positive integer, else raise ValueError."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    return count


def check_seconds(name: str, value: float) -> float:
    """Return ``value`` as a float if it is a finite, non-negative number of seconds."""
    if isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative number of seconds, got {value!r}")
    return float(value)


class Faults:
    """The current fault script: rules, random faults, rate limit, latency, failed runs.

    Written by :class:`FaultScripting` from any thread, read by the pipeline and the
    execute endpoint on the server's loop; ``lock`` guards it.
    """

    def __init__(
        self,
        lock: threading.RLock,
        *,
        latency: float,
        turn_delay: float,
        fault_rate: float,
        seed: int | None,
        fault_statuses: Sequence[int | str],
        rate_limit: float | None,
        rate_burst: int,
    ) -> None:
        self._lock = lock
        self._rules: list[Rule] = []
        self._exec_failures: list[str] = []
        self.latency = check_seconds("latency", latency)
        """Seconds every request waits before anything else happens to it."""
        self.turn_delay = check_seconds("turn_delay", turn_delay)
        """Seconds every execute spends inside its turn."""
        self._fault_rate = 0.0
        self._fault_statuses: tuple[Fault, ...] = ()
        self._rng = random.Random(seed)
        self.set_fault_rate(fault_rate, statuses=fault_statuses)
        self._bucket: TokenBucket | None = None
        self.set_rate_limit(rate_limit, rate_burst)

    # ---------------------------------------------------------------- writing

    def add_rule(self, rule: Rule) -> None:
        """Append a scripted rule (rules are tried in the order they were added)."""
        with self._lock:
            self._rules.append(rule)

    def add_execution_failures(self, status: str, count: int) -> None:
        """Make the next ``count`` executes report run status ``status``."""
        with self._lock:
            self._exec_failures.extend([status] * count)

    def set_fault_rate(
        self, rate: float, *, seed: int | None = None, statuses: Sequence[int | str] | None = None
    ) -> None:
        """Validate and set the random-fault rate, faults (statuses and drops) and seed."""
        if isinstance(rate, bool) or not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, got {rate!r}")
        with self._lock:
            if statuses is not None:
                if isinstance(statuses, str):  # "drop" is not the sequence ("d", "r", ...)
                    raise ValueError(f"statuses must be a sequence, got {statuses!r}")
                checked = tuple(check_fault(s) for s in statuses)
                if not checked:
                    raise ValueError("statuses must not be empty")
                self._fault_statuses = checked
            if seed is not None:
                self._rng = random.Random(seed)
            self._fault_rate = float(rate)

    def set_rate_limit(self, rate: float | None, burst: int) -> None:
        """Validate and set (or, with None, remove) the token bucket; it starts full."""
        if rate is None:
            with self._lock:
                self._bucket = None
            return
        if isinstance(rate, bool) or not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"rate must be a positive number, got {rate!r}")
        if isinstance(burst, bool) or burst < 1:
            raise ValueError(f"burst must be a positive integer, got {burst!r}")
        with self._lock:
            self._bucket = TokenBucket(float(rate), burst, float(burst), time.monotonic())

    def reset(self) -> None:
        """Drop rules and failed runs; switch off random faults, slowness and the rate limit."""
        with self._lock:
            self._rules.clear()
            self._exec_failures.clear()
            self._fault_rate = 0.0
            self.latency = 0.0
            self.turn_delay = 0.0
            self._bucket = None

    # ---------------------------------------------------------------- consuming

    def take_rule(self, method: str, path: str) -> Rule | None:
        """Use up one request of the first matching rule and return it (None: no match)."""
        with self._lock:
            for index, rule in enumerate(self._rules):
                if rule.matches(method, path):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        del self._rules[index]
                    return rule
        return None

    def random_fault(self) -> Fault | None:
        """Draw a random fault: the status to fail with or the :data:`Drop`, or None."""
        with self._lock:
            if self._fault_rate <= 0.0 or not self._fault_statuses:
                return None
            if self._rng.random() >= self._fault_rate:
                return None
            return self._rng.choice(self._fault_statuses)

    def take_token(self) -> float | None:
        """Take a rate-limit token: None if allowed, else the seconds until one is free."""
        with self._lock:
            if self._bucket is None:
                return None
            return self._bucket.take(time.monotonic())

    def take_execution_failure(self) -> str | None:
        """The run status the next execute must report (``error``/``timeout``), or None."""
        with self._lock:
            return self._exec_failures.pop(0) if self._exec_failures else None


class FaultScripting:
    """The fault-injection and scripting methods of :class:`Emulator`.

    Every method may be called from any thread, also while the server runs in
    :meth:`Emulator.run_in_thread`.
    """

    _faults: Faults

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 503,
        retry_after: str | float | None = None,
        path: str | None = None,
        method: str | None = None,
        drop: bool | str = False,
        delay: float = 0.0,
    ) -> None:
        """Make the next ``count`` matching requests fail; they never reach the endpoint.

        (Except with ``drop="after"``: then the request runs and only its answer is lost.)
        Scripted rules (this and :meth:`respond_next`) are consumed in the order they
        were added; a request uses the first rule that matches it. An argument out of its
        range raises :class:`ValueError`.

        Args:
            count: How many requests to fail.
            status: HTTP status of the error (body in the documented error shape).
            retry_after: ``Retry-After`` header: a number becomes a seconds string
                (``2`` -> ``"2"``, ``1.5`` -> ``"1.5"``), a string is sent as is (e.g. an
                HTTP date).
            path: Only requests whose path contains this string (an exact path works).
            method: Only requests with this HTTP method.
            drop: Close the connection without any answer instead of answering ``status``.
                ``True`` or ``"before"``: close it once the request is read, before the
                endpoint; ``"reset"``: the same with a TCP reset (RST) instead of a close;
                ``"after"``: let the request go on as if no rule matched (random faults,
                key check, rate limit, idempotency, the endpoint: an execute runs its turn
                and its answer is stored for ``Idempotency-Key`` replay), then close the
                connection without sending the answer.
            delay: Seconds to wait before answering or dropping (with ``drop="after"``:
                before the request goes on).
        """
        headers: dict[str, str] = {}
        formatted = format_retry_after(retry_after)
        if formatted is not None:
            headers["Retry-After"] = formatted
        rule = Rule(
            remaining=check_count(count),
            path=path,
            method=method.upper() if method else None,
            status=check_status(status),
            headers=headers,
            drop=check_drop(drop),
            delay=check_seconds("delay", delay),
        )
        self._faults.add_rule(rule)

    def respond_next(
        self,
        count: int = 1,
        *,
        status: int = 200,
        body: bytes | str | Mapping[str, Any] | list[Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with a raw scripted response.

        ``body``: bytes are sent as is, a string as UTF-8 (default type ``text/plain``),
        a mapping or list as JSON (default type ``application/json``), None as an empty
        body. ``content_type`` (sent verbatim, parameters allowed) and ``headers``
        override the defaults. The endpoint does not run (no turn is executed).
        ``path``/``method`` filter as in :meth:`fail_next`.
        """
        raw: bytes | None
        default_type: str | None
        if body is None:
            raw, default_type = None, None
        elif isinstance(body, bytes):
            raw, default_type = body, "application/octet-stream"
        elif isinstance(body, str):
            raw, default_type = body.encode("utf-8"), "text/plain; charset=utf-8"
        else:
            raw, default_type = json.dumps(body).encode("utf-8"), "application/json"
        merged: dict[str, str] = {}
        if content_type or default_type:
            merged["Content-Type"] = content_type or default_type or ""
        merged.update(headers or {})
        rule = Rule(
            remaining=check_count(count),
            path=path,
            method=method.upper() if method else None,
            status=check_status(status),
            headers=merged,
            body=raw,
            error=False,
        )
        self._faults.add_rule(rule)

    def fail_execution_next(self, status: str = "error", count: int = 1) -> None:
        """Make the next ``count`` executes report run status ``"error"`` or ``"timeout"``.

        The HTTP answer is still 200; the turn runs (and counts) but produces no message.
        """
        if status not in EXECUTION_FAILURES:
            raise ValueError(f"status must be 'error' or 'timeout', got {status!r}")
        self._faults.add_execution_failures(status, check_count(count))

    def set_latency(self, seconds: float) -> None:
        """Wait ``seconds`` before handling every request (0 disables)."""
        self._faults.latency = check_seconds("latency", seconds)

    def set_turn_delay(self, seconds: float) -> None:
        """Make every execute spend ``seconds`` inside the turn, holding the session."""
        self._faults.turn_delay = check_seconds("turn_delay", seconds)

    def set_fault_rate(
        self, rate: float, *, seed: int | None = None, statuses: Sequence[int | str] | None = None
    ) -> None:
        """Fail a random fraction ``rate`` of ``/api/v1`` requests.

        A faulted request gets a fault drawn from ``statuses`` (kept from before when None):
        an HTTP status, answered before the endpoint (429 faults carry ``Retry-After: 1``),
        or a connection drop: ``"drop"`` closes the connection before the endpoint,
        ``"reset"`` resets it (TCP RST) before the endpoint, ``"drop_after"`` lets the request
        run (the turn is executed and its answer stored for ``Idempotency-Key`` replay) and
        then closes the connection without sending the answer. Passing ``seed`` restarts the
        generator, so the same seed and request sequence gives the same faults. Scripted
        rules take precedence.
        """
        self._faults.set_fault_rate(rate, seed=seed, statuses=statuses)

    def set_rate_limit(self, rate: float | None, burst: int = 10) -> None:
        """Limit ``/api/v1`` requests with a token bucket (None disables).

        The bucket holds ``burst`` tokens, starts full and refills at ``rate`` tokens per
        second (monotonic clock). A request without a token answers 429 with
        ``Retry-After`` = the whole seconds until a token is available (at least 1).
        """
        self._faults.set_rate_limit(rate, burst)

    def reset_faults(self) -> None:
        """Remove all injected faults and slowness.

        Clears the scripted rules and execution failures and switches off random faults,
        latency, turn delay and the rate limit.
        """
        self._faults.reset()
